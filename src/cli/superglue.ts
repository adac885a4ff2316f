/**
 * `gemma-lab superglue --model DIR --task T[,T]|all --objective prefixlm|ul2 --out DIR [budget flags]
 * [--recipe t5gemma2|t5gemma] [--seed N]`: the whole SuperGLUE path of `superglueEndToEnd` (build an
 * encoder-decoder from a decoder-only Gemma, adapt, fine-tune and score every task two ways, write
 * results.jsonl, results.md and chart.vl.json). Budget flags are the budget's keys in kebab case.
 */
import { join } from 'node:path';
import { initEngine } from '../engine/index.js';
import { ConfigError } from '../errors.js';
import { DEFAULT_E2E_BUDGET, E2E_TASKS, type E2ETask, superglueEndToEnd } from '../experiments/superglue_e2e.js';
import { type FlagSpec, defineCommand } from './args.js';

const kebab = (k: string): string => k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
const BUDGET_FLAGS = Object.fromEntries(
  Object.entries(DEFAULT_E2E_BUDGET).map(([k, v]) => [kebab(k), { type: 'string', value: 'N', help: `budget ${k} (default ${v})` } satisfies FlagSpec]),
) as Record<string, FlagSpec>;

export default defineCommand(
  'SuperGLUE end to end: decoder-only Gemma -> encoder-decoder -> PrefixLM/UL2 adaptation -> fine-tune and score every task',
  {
    name: 'superglue',
    flags: {
      model: { type: 'string', default: join('data', 'models', 'tiny-gemma-pretrained'), value: 'DIR', help: 'decoder-only Gemma 2 / Gemma 3 checkpoint with tokenizer.json' },
      task: { type: 'string', default: 'all', value: 'T[,T]|all', help: `tasks (${E2E_TASKS.join(', ')})` },
      objective: { type: 'string', required: true, value: 'prefixlm|ul2', help: 'adaptation objective' },
      out: { type: 'string', required: true, value: 'DIR', help: 'results.jsonl, results.md, chart.vl.json' },
      recipe: { type: 'string', default: 't5gemma2', value: 't5gemma2|t5gemma', help: 'encoder-decoder recipe' },
      seed: { type: 'string', default: '0', value: 'N', help: 'seed of data subsets, heads and training' },
      ...BUDGET_FLAGS,
    },
  },
  async (values) => {
    const v = values as Record<string, string | boolean | undefined>;
    const tasks = v.task === 'all' ? 'all' : String(v.task).split(',').map((t) => t.trim());
    if (tasks !== 'all') for (const t of tasks) if (!(E2E_TASKS as readonly string[]).includes(t)) throw new ConfigError(`unknown task '${t}' (have: ${E2E_TASKS.join(', ')}, all)`, undefined, '--task');
    const objective = v.objective;
    if (objective !== 'prefixlm' && objective !== 'ul2') throw new ConfigError(`must be prefixlm or ul2, got '${String(objective)}'`, undefined, '--objective');
    const recipe = v.recipe;
    if (recipe !== 't5gemma2' && recipe !== 't5gemma') throw new ConfigError(`must be t5gemma2 or t5gemma, got '${String(recipe)}'`, undefined, '--recipe');
    if (!/^\d+$/.test(String(v.seed))) throw new ConfigError(`must be a non-negative integer, got '${String(v.seed)}'`, undefined, '--seed');
    const budget: Record<string, number> = {};
    for (const k of Object.keys(DEFAULT_E2E_BUDGET)) {
      const raw = v[kebab(k)];
      if (raw === undefined) continue;
      const x = Number(raw);
      if (!Number.isFinite(x)) throw new ConfigError(`must be a number, got '${String(raw)}'`, undefined, `--${kebab(k)}`);
      budget[k] = x;
    }
    await initEngine();
    const controller = new AbortController();
    const onSigint = () => controller.abort();
    process.once('SIGINT', onSigint);
    try {
      const report = await superglueEndToEnd({
        model: String(v.model).startsWith('/') ? String(v.model) : join(process.cwd(), String(v.model)),
        tasks: tasks as readonly E2ETask[] | 'all',
        objective,
        out: String(v.out),
        budget,
        recipe,
        seed: Number(v.seed),
        signal: controller.signal,
        log: (line) => console.error(`[superglue] ${line}`),
      });
      for (const r of report.rows) console.log(`${r.task}\t${r.scoring}\t${(100 * r.score).toFixed(1)}\t${JSON.stringify(r.metrics)}`);
      console.log(`wrote ${report.files.table}, ${report.files.jsonl}, ${report.files.chart}`);
      return 0;
    } finally {
      process.off('SIGINT', onSigint);
    }
  },
);
