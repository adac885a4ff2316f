/** The shared CLI flag parser: values, defaults, help text and usage errors (unknown / missing flags). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defineCommand, formatUsage, parseCommandArgs } from '../../src/cli/args.js';

const SPEC = {
  name: 'demo',
  positionals: ['DIR'],
  flags: {
    model: { type: 'string', required: true, value: 'M', help: 'the model' },
    mode: { type: 'string', default: 'causal', help: 'attention mode\nsecond line' },
    l: { type: 'string', value: 'LEVEL', help: 'a level' },
    json: { type: 'boolean', help: 'as JSON' },
  },
} as const;

const USAGE = [
  'usage: gemma-lab demo DIR --model M [--mode MODE] [-l LEVEL] [--json]',
  '  --model  the model',
  '  --mode   attention mode',
  '           second line (default: causal)',
  '  -l       a level',
  '  --json   as JSON',
].join('\n');

/** Runs `parseCommandArgs` capturing what it prints. */
function parse(argv: string[]): { result: ReturnType<typeof parseCommandArgs<typeof SPEC.flags>>; stdout: string; stderr: string } {
  const out: string[] = [];
  const err: string[] = [];
  const [log, error] = [console.log, console.error];
  console.log = (s: string) => out.push(s);
  console.error = (s: string) => err.push(s);
  try {
    return { result: parseCommandArgs(SPEC, argv), stdout: out.join('\n'), stderr: err.join('\n') };
  } finally {
    [console.log, console.error] = [log, error];
  }
}

test('formatUsage: synopsis (required bare, optional bracketed, one-letter flags as -x) and aligned help lines', () => {
  assert.equal(formatUsage(SPEC), USAGE);
});

test('values: given strings, defaults, booleans false when absent, short one-letter flags, positionals', () => {
  const { result, stdout, stderr } = parse(['d', '--model', 'x', '-l', '2']);
  assert.deepEqual(result, { ok: true, values: { model: 'x', mode: 'causal', l: '2', json: false }, positionals: ['d'] });
  assert.equal(stdout + stderr, '');
  const r2 = parse(['--json', '--mode=bidi', 'd', '--model', 'y']).result;
  assert.deepEqual(r2, { ok: true, values: { model: 'y', mode: 'bidi', json: true }, positionals: ['d'] });
});

test('--help / -h print the usage to stdout and exit 0, even without required flags', () => {
  for (const h of ['--help', '-h']) {
    const { result, stdout, stderr } = parse([h]);
    assert.deepEqual(result, { ok: false, exitCode: 0 });
    assert.equal(stdout, USAGE);
    assert.equal(stderr, '');
  }
});

test('usage errors name the flag, print the usage to stderr and exit 2', () => {
  const cases: [string[], RegExp][] = [
    [['d', '--model', 'x', '--bogus'], /^gemma-lab demo: Unknown option '--bogus'/],
    [['d'], /^gemma-lab demo: missing required --model\n/],
    [['d', '--model'], /^gemma-lab demo: Option '--model <value>' argument missing/],
    [['--model', 'x'], /^gemma-lab demo: expected 1 positional argument\(s\) \(DIR\), got 0\n/],
    [['a', 'b', '--model', 'x'], /got 2\n/],
  ];
  for (const [argv, message] of cases) {
    const { result, stdout, stderr } = parse(argv);
    assert.deepEqual(result, { ok: false, exitCode: 2 }, argv.join(' '));
    assert.match(stderr, message);
    assert.ok(stderr.endsWith(`\n${USAGE}`), argv.join(' '));
    assert.equal(stdout, '');
  }
});

test('defineCommand: run gets the parsed values; help and usage errors return their code without running', async () => {
  const calls: unknown[] = [];
  const cmd = defineCommand('demo command', SPEC, async (values, positionals) => {
    calls.push({ values, positionals });
    return 7;
  });
  assert.equal(cmd.summary, 'demo command');
  const [log, error] = [console.log, console.error];
  console.log = () => {};
  console.error = () => {};
  try {
    assert.equal(await cmd.run(['d', '--model', 'x']), 7);
    assert.equal(await cmd.run(['-h']), 0);
    assert.equal(await cmd.run(['d']), 2);
  } finally {
    [console.log, console.error] = [log, error];
  }
  assert.deepEqual(calls, [{ values: { model: 'x', mode: 'causal', json: false }, positionals: ['d'] }]);
});
