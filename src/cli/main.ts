/**
 * `gemma-lab <command> [options]`. Each command lives in its own module, loaded on demand so
 * `gemma-lab inspect` does not pay for the notebook kernel or the training stack.
 */
import { GemmaLabError } from '../errors.js';

import type { Command } from './command.js';

const COMMANDS: Record<string, () => Promise<Command>> = {
  // Each entry: name -> lazy import of a module whose default export is a Command.
  embed: async () => (await import('./embed.js')).default,
  forward: async () => (await import('./forward.js')).default,
  glue: async () => (await import('./workflow.js')).glueCommand,
  superglue: async () => (await import('./workflow.js')).superglueCommand,
  rank: async () => (await import('./rank.js')).default,
  results: async () => (await import('./results.js')).default,
  inspect: async () => (await import('./inspect.js')).default,
  kernel: async () => (await import('./kernel.js')).default,
  'install-kernel': async () => (await import('./install-kernel.js')).default,
  run: async () => (await import('./run.js')).default,
  'rank-eval': async () => (await import('./rank-eval.js')).default,
  start: async () => (await import('./start.js')).default,
  'to-encoder-decoder': async () => (await import('./to-encoder-decoder.js')).default,
};

/** Loads every command for its one-line summary: only paid on `--help` or a usage error. */
async function usage(): Promise<string> {
  const names = Object.keys(COMMANDS).sort();
  const cmds = await Promise.all(names.map((n) => (COMMANDS[n] as () => Promise<Command>)()));
  const width = Math.max(...names.map((n) => n.length));
  const lines = names.map((n, i) => `  ${n.padEnd(width)}  ${(cmds[i] as Command).summary}`);
  return `usage: gemma-lab <command> [options]\n\ncommands:\n${lines.join('\n')}\n\nRun 'gemma-lab <command> --help' for the command's options.`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h') {
    console.log(await usage());
    return name ? 0 : 2;
  }
  const load = COMMANDS[name];
  if (!load) {
    console.error(`gemma-lab: unknown command '${name}'\n\n${await usage()}`);
    return 2;
  }
  const cmd = await load();
  return cmd.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    // Our typed errors already name the file/tensor/line: print the message, not a stack.
    if (err instanceof GemmaLabError) console.error(`gemma-lab: ${err.name}: ${err.message}`);
    else console.error(err);
    process.exitCode = 1;
  },
);
