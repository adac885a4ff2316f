/** `gemma-lab install-kernel [--user | --prefix DIR] [--name N] [--display-name S]`: writes the kernelspec with Node. */
import { parseArgs } from 'node:util';
import type { Command } from './command.js';

const command: Command = {
  summary: 'install the gemma-lab Jupyter kernelspec (no Python needed)',
  async run(argv) {
    const { values } = parseArgs({
      args: argv,
      options: {
        user: { type: 'boolean' },
        prefix: { type: 'string' },
        name: { type: 'string' },
        'display-name': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help) {
      console.log(
        'usage: gemma-lab install-kernel [--user | --prefix DIR] [--name NAME] [--display-name TEXT]\n' +
          '  --user (default)  ~/.local/share/jupyter/kernels/NAME (or $JUPYTER_DATA_DIR)\n' +
          '  --prefix DIR      DIR/share/jupyter/kernels/NAME (a venv/conda prefix, or add DIR/share/jupyter to JUPYTER_PATH)',
      );
      return 0;
    }
    if (values.user && values.prefix) {
      console.error('gemma-lab install-kernel: --user and --prefix exclude each other');
      return 2;
    }
    const { installKernelSpec } = await import('../kernel/kernelspec.js');
    const dir = await installKernelSpec({ prefix: values.prefix, name: values.name, displayName: values['display-name'] });
    console.log(`installed kernelspec ${values.name ?? 'gemma-lab'} in ${dir}`);
    return 0;
  },
};
export default command;
