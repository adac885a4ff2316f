/** `gemma-lab run NOTEBOOK.ipynb [-p key=value ...] [--out OUT.ipynb] [--html OUT.html] [--allow-errors]` */
import { parseArgs } from 'node:util';
import type { Command } from './command.js';

const USAGE = `usage: gemma-lab run NOTEBOOK.ipynb [-p key=value ...] [--out OUT.ipynb] [--html OUT.html] [--allow-errors]
  Executes the notebook headlessly with the gemma-lab kernel (papermill-style: values given with -p
  go into an 'injected-parameters' cell after the cell tagged 'parameters').
  --out   executed notebook (default: NOTEBOOK.executed.ipynb); written even when a cell fails
  --html  static HTML report (charts as PNG)`;

const command: Command = {
  summary: 'execute a notebook headlessly and write the executed .ipynb and an HTML report',
  async run(argv) {
    const { values, positionals } = parseArgs({
      args: argv,
      options: {
        param: { type: 'string', short: 'p', multiple: true },
        out: { type: 'string' },
        html: { type: 'string' },
        'allow-errors': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: true,
    });
    if (values.help || positionals.length !== 1) {
      console.log(USAGE);
      return values.help ? 0 : 2;
    }
    const { parseParam } = await import('../report/notebook.js');
    const { runNotebook } = await import('../kernel/run-notebook.js');
    const input = positionals[0]!;
    const params = Object.fromEntries((values.param ?? []).map(parseParam));
    const out = values.out ?? input.replace(/\.ipynb$/, '') + '.executed.ipynb';
    const log = process.stderr.write.bind(process.stderr);
    const t0 = Date.now();
    const res = await runNotebook(input, {
      params,
      output: out,
      html: values.html,
      allowErrors: values['allow-errors'],
      onCell: (i, n) => log(`gemma-lab run: ${input}: cell ${i + 1}/${n}\n`),
    });
    const secs = ((Date.now() - t0) / 1000).toFixed(1);
    if (!res.ok) {
      const ex = res.run.exception!;
      log(`gemma-lab run: ${input}: cell ${ex.cell} failed: ${ex.ename}: ${ex.evalue}\n  partial notebook: ${out}\n`);
      return 1;
    }
    log(`gemma-lab run: ${input} -> ${out}${values.html ? ` + ${values.html}` : ''} (${secs} s, backend ${res.run.backend})\n`);
    return 0;
  },
};
export default command;
