/**
 * `gemma-lab superglue`: one command, two routes. `--objective prefixlm|ul2` runs the encoder-decoder
 * route (./superglue.ts: build from a decoder-only Gemma, adapt, fine-tune and score classification +
 * text-to-text); any other objective (default `classifier`) runs the encoder-classifier sweep (./workflow.ts).
 */
import type { Command } from './command.js';

/** The `--objective` value in argv (`--objective X` or `--objective=X`), if any. */
export function objectiveOf(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--objective') return argv[i + 1];
    if (a.startsWith('--objective=')) return a.slice('--objective='.length);
  }
  return undefined;
}

const route: Command = {
  summary: 'fine-tune and score on SuperGLUE: encoder classifier sweep, or --objective prefixlm|ul2 for the encoder-decoder route',
  async run(argv: string[]) {
    const o = objectiveOf(argv);
    const cmd = o === 'prefixlm' || o === 'ul2' ? (await import('./superglue.js')).default : (await import('./workflow.js')).superglueCommand;
    return cmd.run(argv);
  },
};

export default route;
