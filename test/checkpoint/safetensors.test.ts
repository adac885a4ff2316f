import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { REPO_ROOT, sharedDir } from '../../src/io/paths.js';
import { Rng } from '../../src/rng/index.js';
import {
  DTYPE_BITS,
  f32ToBf16Bits,
  f32ToF16Bits,
  fromFloat32,
  parseSafetensors,
  readSafetensors,
  SafetensorsError,
  toFloat32,
  writeSafetensors,
  type DType,
  type HostTensor,
} from '../../src/checkpoint/safetensors.js';
import { CheckpointError } from '../../src/errors.js';
import { withTempDir } from '../helpers/dispose.js';

const FIXTURES = join(REPO_ROOT, 'test', 'fixtures', 'checkpoint');

interface Verdict {
  name: string;
  reference: string;
  ours: string;
  tensor: string | null;
  tensors: Record<string, { dtype: string; shape: number[]; hex: string }> | null;
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

test('crafted files: same accept/reject and error kind as the Rust reference (stricter only on duplicate names)', async () => {
  const verdicts = JSON.parse(await readFile(join(FIXTURES, 'verdicts.json'), 'utf8')) as Verdict[];
  assert.ok(verdicts.length >= 35, `only ${verdicts.length} crafted cases`);
  let rejected = 0;
  for (const v of verdicts) {
    const file = join(FIXTURES, 'crafted', `${v.name}.safetensors`);
    if (v.ours === 'accept') {
      const { tensors } = await readSafetensors(file);
      assert.deepEqual([...tensors.keys()].sort(), Object.keys(v.tensors ?? {}).sort(), v.name);
      for (const [name, want] of Object.entries(v.tensors ?? {})) {
        const got = tensors.get(name) as HostTensor;
        assert.deepEqual({ dtype: got.dtype, shape: [...got.shape], hex: hex(got.data) }, want, `${v.name}: ${name}`);
      }
      assert.equal(Object.getPrototypeOf({}), Object.prototype, 'prototype untouched');
      continue;
    }
    rejected++;
    await assert.rejects(
      readSafetensors(file),
      (err: unknown) => {
        assert.ok(err instanceof SafetensorsError, `${v.name}: ${String(err)}`);
        assert.ok(err instanceof CheckpointError);
        assert.equal(err.kind, v.ours, `${v.name}: ${err.message}`);
        assert.equal(err.file, file, `${v.name}: names the file`);
        if (v.tensor !== null) assert.equal(err.tensor, v.tensor, `${v.name}: names the tensor (${err.message})`);
        return true;
      },
      v.name,
    );
  }
  assert.ok(rejected >= 30, `${rejected} rejections`);
});

test('metadata with a __proto__ key is a plain own key', async () => {
  const { metadata } = await readSafetensors(join(FIXTURES, 'crafted', 'metadata_strings.safetensors'));
  assert.equal(metadata['format'], 'pt');
  assert.equal(Object.getOwnPropertyDescriptor(metadata, '__proto__')?.value, 'p');
});

/** Random bytes of the right length for a dtype and shape. */
function randomTensor(rng: Rng, dtype: DType, shape: number[]): HostTensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Uint8Array((n * DTYPE_BITS[dtype]) / 8);
  for (let i = 0; i < data.length; i++) data[i] = rng.int(256);
  return { dtype, shape, data };
}

function pythonReadSummary(file: string): Record<string, { dtype: string; shape: number[]; hex: string }> & { __header__?: never } {
  // An independent reader: Python's json + raw byte slicing (the wheel is not installable here).
  const script = `
import json, struct, sys
b = open(sys.argv[1], 'rb').read()
n = struct.unpack('<Q', b[:8])[0]
assert (8 + n) % 8 == 0, 'data not 8-aligned'
raw = b[8:8+n]
assert raw.rstrip(b' ').endswith(b'}') and raw.startswith(b'{')
h = json.loads(raw)
out = {}
end = 0
for k, v in h.items():
    if k == '__metadata__': continue
    s, e = v['data_offsets']
    end = max(end, e)
    out[k] = {'dtype': v['dtype'], 'shape': v['shape'], 'hex': b[8+n+s:8+n+e].hex()}
assert 8 + n + end == len(b), 'buffer not fully indexed'
order = [k for k in h if k != '__metadata__']
offs = [h[k]['data_offsets'][0] for k in order]
assert offs == sorted(offs), 'tensors not laid out in name order'
assert order == sorted(order, key=lambda s: s.encode()), 'names not sorted'
print(json.dumps({'tensors': out, 'metadata': h.get('__metadata__')}))
`;
  return JSON.parse(execFileSync('python3', ['-c', script, file], { encoding: 'utf8' })) as never;
}

test('round trip for every dtype: identical bytes, header padded to 8, Python reads the same', () =>
  withTempDir('st-', async (dir) => {
    const rng = new Rng(7);
    const tensors = new Map<string, HostTensor>();
    for (const dtype of Object.keys(DTYPE_BITS) as DType[]) {
      const rank = 1 + rng.int(4);
      const shape = Array.from({ length: rank }, () => 1 + rng.int(5));
      if (DTYPE_BITS[dtype] % 8 !== 0) shape[shape.length - 1] = 8; // F4/F6 need whole bytes
      tensors.set(`t.${dtype}`, randomTensor(rng, dtype, shape));
    }
    tensors.set('scalar', randomTensor(rng, 'F32', []));
    tensors.set('empty', randomTensor(rng, 'F16', [3, 0]));
    const file = join(dir, 'all.safetensors');
    await writeSafetensors(file, tensors, { format: 'pt', note: 'x' });
    const back = await readSafetensors(file);
    assert.deepEqual(back.metadata, Object.assign(Object.create(null), { format: 'pt', note: 'x' }));
    assert.equal(back.tensors.size, tensors.size);
    for (const [name, t] of tensors) {
      const b = back.tensors.get(name) as HostTensor;
      assert.equal(b.dtype, t.dtype, name);
      assert.deepEqual([...b.shape], t.shape, name);
      assert.equal(hex(b.data), hex(t.data), name);
    }
    const py = pythonReadSummary(file) as unknown as { tensors: Record<string, { dtype: string; shape: number[]; hex: string }>; metadata: unknown };
    assert.deepEqual(py.metadata, { format: 'pt', note: 'x' });
    for (const [name, t] of tensors) assert.deepEqual(py.tensors[name], { dtype: t.dtype, shape: t.shape, hex: hex(t.data) }, name);
  }));

test('writer refuses data whose length does not match shape x dtype, naming the tensor', () =>
  withTempDir('st-', async (dir) => {
    const file = join(dir, 'bad.safetensors');
    const tensors = new Map<string, HostTensor>([['w', { dtype: 'F32', shape: [3], data: new Uint8Array(8) }]]);
    await assert.rejects(writeSafetensors(file, tensors), (e: unknown) => e instanceof CheckpointError && e.tensor === 'w' && e.file === file);
  }));

const f32Bits = (x: number): number => new Uint32Array(new Float32Array([x]).buffer)[0] as number;
const bitsF32 = (b: number): number => new Float32Array(new Uint32Array([b]).buffer)[0] as number;

test('BF16 rounding: nearest even on known bit patterns', () => {
  const cases: [number, number][] = [
    [0x3f800000, 0x3f80], // 1.0
    [0x3f808000, 0x3f80], // tie, even below
    [0x3f818000, 0x3f82], // tie, odd below -> up
    [0x3f808001, 0x3f81], // just above the tie
    [0x3f807fff, 0x3f80], // just below the tie
    [0xbf818000, 0xbf82], // negative tie
    [0x7f7fffff, 0x7f80], // max float rounds to inf (as torch)
    [0x7f800000, 0x7f80], // inf
    [0x80000000, 0x8000], // -0
    [0x00000001, 0x0000], // smallest subnormal to zero
    [0x7fc00000, 0x7fc0], // quiet NaN
    [0x7f800001, 0x7fc0], // signalling NaN with a payload only in the low bits stays NaN
  ];
  for (const [x, want] of cases) assert.equal(f32ToBf16Bits(x), want, `0x${x.toString(16)}`);
  const t = fromFloat32(Float32Array.from(cases.map(([x]) => bitsF32(x))), [cases.length], 'BF16');
  const back = toFloat32(t);
  cases.forEach(([, want], i) => {
    const w = bitsF32(want << 16);
    assert.ok(Object.is(back[i], w) || (Number.isNaN(back[i]) && Number.isNaN(w)), `decode ${i}`);
  });
});

test('F16 rounding matches numpy float32->float16 on edge cases and 20k random values', () => {
  const rng = new Rng(3);
  const xs = [1, -2, 0.1, 1 / 3, 65504, 65519, 65520, 1e6, 2 ** -14, 2 ** -24, 2 ** -25, 1.5 * 2 ** -25, 3 * 2 ** -26, 2 ** -26, 2 ** -14 - 2 ** -25, -0, Infinity, -Infinity, NaN];
  for (let i = 0; i < 20000; i++) xs.push(bitsF32(rng.nextU32() & 0xc7ffffff)); // exponents around half's range
  const f = Float32Array.from(xs);
  const ours = Array.from(f, (x) => f32ToF16Bits(f32Bits(x)));
  const py = execFileSync(
    'python3',
    ['-c', 'import sys, numpy as np; a = np.frombuffer(sys.stdin.buffer.read(), "<f4"); sys.stdout.buffer.write(np.errstate(over="ignore").__enter__() or a.astype(np.float16).view("<u2").tobytes())'],
    { input: Buffer.from(f.buffer), maxBuffer: 1 << 24 },
  );
  const want = new Uint16Array(py.buffer.slice(py.byteOffset, py.byteOffset + py.byteLength));
  let nanOk = 0;
  for (let i = 0; i < xs.length; i++) {
    const w = want[i] as number;
    if ((w & 0x7c00) === 0x7c00 && w & 0x3ff) {
      assert.ok((ours[i]! & 0x7c00) === 0x7c00 && ours[i]! & 0x3ff, `NaN at ${i}`);
      nanOk++;
      continue;
    }
    assert.equal(ours[i], w, `x=${xs[i]} (0x${f32Bits(xs[i]!).toString(16)})`);
  }
  assert.ok(nanOk >= 1);
  // Decoding every half value agrees with numpy too.
  const all = new Uint16Array(65536).map((_, i) => i);
  const dec = toFloat32({ dtype: 'F16', shape: [65536], data: new Uint8Array(all.buffer) });
  const pyDec = execFileSync('python3', ['-c', 'import sys, numpy as np; sys.stdout.buffer.write(np.arange(65536, dtype="<u2").view(np.float16).astype("<f4").tobytes())'], { maxBuffer: 1 << 24 });
  const wantDec = new Float32Array(pyDec.buffer.slice(pyDec.byteOffset, pyDec.byteOffset + pyDec.byteLength));
  for (let i = 0; i < 65536; i++) assert.ok(Object.is(dec[i], wantDec[i]) || (Number.isNaN(dec[i]) && Number.isNaN(wantDec[i])), `half 0x${i.toString(16)}`);
});

test('F8 and integer decoding on known values', () => {
  const e4m3 = toFloat32({ dtype: 'F8_E4M3', shape: [6], data: Uint8Array.from([0x38, 0x7e, 0x7f, 0x01, 0xb8, 0x08]) });
  assert.deepEqual(Array.from(e4m3).map((x) => (Number.isNaN(x) ? 'NaN' : x)), [1, 448, 'NaN', 2 ** -9, -1, 2 ** -6]);
  const e5m2 = toFloat32({ dtype: 'F8_E5M2', shape: [4], data: Uint8Array.from([0x3c, 0x7b, 0x7c, 0x01]) });
  assert.deepEqual(Array.from(e5m2), [1, 57344, Infinity, 2 ** -16]);
  const i64 = new BigInt64Array([-5n, 1n << 40n]);
  assert.deepEqual(Array.from(toFloat32({ dtype: 'I64', shape: [2], data: new Uint8Array(i64.buffer) })), [-5, 2 ** 40]);
  assert.throws(() => toFloat32({ dtype: 'C64', shape: [1], data: new Uint8Array(8) }, 'z'), (e: unknown) => e instanceof CheckpointError && e.tensor === 'z');
});

test('real fixture gemma2-tiny (BF16): every tensor equals an independent numpy decode', async () => {
  const file = join(sharedDir(), 'fixtures', 'gemma2-tiny', 'model.safetensors');
  const { tensors, metadata } = await readSafetensors(file);
  assert.equal(metadata['format'], 'pt');
  const py = execFileSync(
    'python3',
    [
      '-c',
      `
import json, struct, sys, numpy as np
b = open(sys.argv[1], 'rb').read()
n = struct.unpack('<Q', b[:8])[0]
h = json.loads(b[8:8+n])
out = {}
for k, v in h.items():
    if k == '__metadata__': continue
    s, e = v['data_offsets']
    x = (np.frombuffer(b[8+n+s:8+n+e], '<u2').astype(np.uint32) << 16).view(np.float32).astype(np.float64)
    out[k] = {'dtype': v['dtype'], 'shape': v['shape'], 'sum': float(x.sum()), 'sumsq': float((x*x).sum()), 'head': [float(t) for t in x[:4]], 'tail': float(x[-1])}
print(json.dumps(out))
`,
      file,
    ],
    { encoding: 'utf8' },
  );
  const want = JSON.parse(py) as Record<string, { dtype: string; shape: number[]; sum: number; sumsq: number; head: number[]; tail: number }>;
  assert.equal(tensors.size, Object.keys(want).length);
  assert.equal(tensors.size, 24);
  for (const [name, w] of Object.entries(want)) {
    const t = tensors.get(name) as HostTensor;
    assert.equal(t.dtype, 'BF16');
    assert.deepEqual([...t.shape], w.shape, name);
    const x = toFloat32(t, name);
    let sum = 0;
    let sumsq = 0;
    for (const v of x) {
      sum += v;
      sumsq += v * v;
    }
    // Same float64 summation order as numpy's pairwise sum is not guaranteed: allow rounding-level slack.
    assert.ok(Math.abs(sum - w.sum) <= 1e-12 * Math.max(1, Math.abs(w.sum)) * x.length, `${name} sum ${sum} vs ${w.sum}`);
    assert.ok(Math.abs(sumsq - w.sumsq) <= 1e-12 * w.sumsq * x.length, `${name} sumsq`);
    assert.deepEqual(Array.from(x.slice(0, 4)), w.head, name);
    assert.equal(x[x.length - 1], w.tail, name);
  }
  // Re-encoding the decoded values as BF16 reproduces the file's bytes exactly (BF16 -> f32 is exact).
  const emb = tensors.get('model.embed_tokens.weight') as HostTensor;
  assert.equal(hex(fromFloat32(toFloat32(emb), emb.shape, 'BF16').data), hex(emb.data));
});

test('10,000 seeded mutations of a valid file raise only SafetensorsError, never hang', async () => {
  const base = new Uint8Array(await readFile(join(FIXTURES, 'crafted', 'keys_out_of_order.safetensors')));
  const rng = new Rng(2024);
  const kinds = new Map<string, number>();
  for (let i = 0; i < 10000; i++) {
    let buf = base.slice();
    const edits = 1 + rng.int(3);
    for (let k = 0; k < edits; k++) {
      const op = rng.int(4);
      const at = rng.int(buf.length + 1);
      if (op === 0 && buf.length) buf[Math.min(at, buf.length - 1)] = rng.int(256);
      else if (op === 1) buf = Uint8Array.from([...buf.subarray(0, at), rng.int(256), ...buf.subarray(at)]);
      else if (op === 2 && buf.length) buf = Uint8Array.from([...buf.subarray(0, at), ...buf.subarray(at + 1)]);
      else if (op === 3) buf = buf.subarray(0, at).slice();
    }
    try {
      parseSafetensors(buf);
      kinds.set('accept', (kinds.get('accept') ?? 0) + 1);
    } catch (err) {
      assert.ok(err instanceof SafetensorsError, `mutation ${i}: ${String(err)}`);
      kinds.set(err.kind, (kinds.get(err.kind) ?? 0) + 1);
    }
  }
  assert.ok(kinds.size >= 5, JSON.stringify([...kinds]));
});

test('a file that shrinks after its header was read is reported, not half-read', () =>
  withTempDir('st-', async (dir) => {
    const file = join(dir, 'x.safetensors');
    const { readSafetensorsHeader, readTensorFromHeader } = await import('../../src/checkpoint/safetensors.js');
    await writeSafetensors(file, new Map([['w', fromFloat32(new Float32Array([1, 2, 3]), [3], 'F32')]]));
    const header = await readSafetensorsHeader(file);
    const bytes = await readFile(file);
    await writeFile(file, bytes.subarray(0, bytes.length - 2));
    await assert.rejects(readTensorFromHeader(header, 'w'), (e: unknown) => e instanceof SafetensorsError && e.tensor === 'w');
  }));
