/**
 * Flag parsing shared by the `gemma-lab` commands: `node:util` parseArgs (strict) driven by one flag
 * table that also renders the usage text, so the help cannot drift from what is accepted.
 * `--help`/`-h` prints the usage (exit 0); an unknown flag, a flag without its value, a missing
 * required flag or a wrong number of positionals prints what is wrong plus the usage (exit 2).
 */
import { parseArgs } from 'node:util';
import type { Command } from './command.js';

export interface FlagSpec {
  readonly type: 'string' | 'boolean';
  /** One-letter alias (`-l`). A one-letter flag name is shown as `-x` anyway. */
  readonly short?: string;
  /** String flags only: absent -> usage error. */
  readonly required?: boolean;
  /** String flags only: value when absent. */
  readonly default?: string;
  /** Placeholder of the value in the usage text (default: the name upper-cased). */
  readonly value?: string;
  /** Description; later lines of a multi-line text are indented under the first. */
  readonly help: string;
}

export interface CommandSpec<F extends Readonly<Record<string, FlagSpec>>> {
  /** The command's name after `gemma-lab`. */
  readonly name: string;
  readonly flags: F;
  /** Placeholders of the positional arguments; exactly this many must be given (default none). */
  readonly positionals?: readonly string[];
}

/** Booleans are false when absent; strings are `string` when required or defaulted, else optional. */
export type FlagValues<F extends Readonly<Record<string, FlagSpec>>> = {
  readonly [K in keyof F]: F[K]['type'] extends 'boolean'
    ? boolean
    : F[K] extends { readonly required: true } | { readonly default: string }
      ? string
      : string | undefined;
};

export type ParsedArgs<F extends Readonly<Record<string, FlagSpec>>> =
  | { readonly ok: true; readonly values: FlagValues<F>; readonly positionals: readonly string[] }
  /** Help was printed or a usage error reported: the command returns this exit code. */
  | { readonly ok: false; readonly exitCode: number };

const flagName = (name: string): string => (name.length === 1 ? `-${name}` : `--${name}`);

function flagSyntax(name: string, f: FlagSpec): string {
  return f.type === 'boolean' ? flagName(name) : `${flagName(name)} ${f.value ?? name.toUpperCase()}`;
}

/** `usage: gemma-lab NAME ...` plus one aligned line per flag. */
export function formatUsage<F extends Readonly<Record<string, FlagSpec>>>(spec: CommandSpec<F>): string {
  const flags = Object.entries(spec.flags);
  const synopsis = [
    ...(spec.positionals ?? []),
    ...flags.map(([n, f]) => (f.required ? flagSyntax(n, f) : `[${flagSyntax(n, f)}]`)),
  ];
  const width = Math.max(0, ...flags.map(([n]) => flagName(n).length));
  const lines = flags.map(([n, f]) => {
    const [first, ...rest] = f.help.split('\n');
    const dflt = f.default !== undefined ? ` (default: ${f.default})` : '';
    return [`  ${flagName(n).padEnd(width)}  ${first}${rest.length === 0 ? dflt : ''}`, ...rest.map((l, i) => `  ${' '.repeat(width)}  ${l}${i === rest.length - 1 ? dflt : ''}`)].join('\n');
  });
  return [`usage: gemma-lab ${spec.name} ${synopsis.join(' ')}`, ...lines].join('\n');
}

function usageError<F extends Readonly<Record<string, FlagSpec>>>(spec: CommandSpec<F>, message: string): ParsedArgs<F> {
  console.error(`gemma-lab ${spec.name}: ${message}\n${formatUsage(spec)}`);
  return { ok: false, exitCode: 2 };
}

/** Parses `argv` against the spec; on `ok: false` the help or the error has already been printed. */
export function parseCommandArgs<F extends Readonly<Record<string, FlagSpec>>>(spec: CommandSpec<F>, argv: readonly string[]): ParsedArgs<F> {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = { help: { type: 'boolean', short: 'h' } };
  for (const [name, f] of Object.entries(spec.flags)) {
    const short = f.short ?? (name.length === 1 ? name : undefined);
    options[name] = short === undefined ? { type: f.type } : { type: f.type, short };
  }
  let parsed: { values: Record<string, string | boolean | undefined>; positionals: string[] };
  try {
    parsed = parseArgs({ args: [...argv], options, strict: true, allowPositionals: (spec.positionals ?? []).length > 0 });
  } catch (err) {
    // parseArgs' own messages name the offending flag (unknown option, missing value, stray positional).
    if (err instanceof TypeError && 'code' in err && String(err.code).startsWith('ERR_PARSE_ARGS_')) return usageError(spec, err.message);
    throw err;
  }
  if (parsed.values.help === true) {
    console.log(formatUsage(spec));
    return { ok: false, exitCode: 0 };
  }
  const values: Record<string, string | boolean | undefined> = {};
  for (const [name, f] of Object.entries(spec.flags)) {
    const v = parsed.values[name];
    if (f.type === 'boolean') values[name] = v === true;
    else if (v !== undefined) values[name] = v;
    else if (f.default !== undefined) values[name] = f.default;
    else if (f.required) return usageError(spec, `missing required ${flagName(name)}`);
  }
  const want = spec.positionals ?? [];
  if (parsed.positionals.length !== want.length)
    return usageError(spec, `expected ${want.length} positional argument(s) (${want.join(' ')}), got ${parsed.positionals.length}`);
  return { ok: true, values: values as FlagValues<F>, positionals: parsed.positionals };
}

/**
 * A `gemma-lab` command whose flags are parsed by `spec` before `run` sees them (help and usage
 * errors never reach `run`).
 */
export function defineCommand<const F extends Readonly<Record<string, FlagSpec>>>(
  summary: string,
  spec: CommandSpec<F>,
  run: (values: FlagValues<F>, positionals: readonly string[]) => Promise<number>,
): Command {
  return {
    summary,
    async run(argv) {
      const args = parseCommandArgs(spec, argv);
      return args.ok ? run(args.values, args.positionals) : args.exitCode;
    },
  };
}
