/** A `gemma-lab` subcommand: the default export of each command module under src/cli/. */
export interface Command {
  readonly summary: string;
  run(argv: string[]): Promise<number>;
}
