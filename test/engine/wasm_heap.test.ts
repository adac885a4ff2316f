/**
 * The wasm heap guard: its reading is the backend's real linear memory, a heap past the limit throws a
 * typed error naming the step and the size, and other backends are never refused.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { WasmHeapError } from '../../src/errors.js';
import { assertWasmHeap, initEngine, WASM_HEAP_LIMIT_BYTES, wasmHeapBytes } from '../../src/engine/index.js';

describe('wasm heap guard', () => {
  after(async () => {
    await initEngine('native');
  });
  it('reads the wasm linear memory, which grows by whole 64 KiB pages when a big tensor is made', async () => {
    await initEngine('native');
    const before = wasmHeapBytes() as number;
    assert.equal(before % 65536, 0);
    const big = tf.zeros([before / 4 + 1]); // more bytes than the whole heap held: it must grow
    const grown = wasmHeapBytes() as number;
    big.dispose();
    assert.equal(grown % 65536, 0);
    assert.ok(grown > before + 4, `heap ${before} -> ${grown}`);
    assert.ok(grown < WASM_HEAP_LIMIT_BYTES);
  });
  it('throws WasmHeapError naming the step and both sizes past the limit, and passes under it', async () => {
    await initEngine('native');
    const bytes = wasmHeapBytes() as number;
    assert.doesNotThrow(() => assertWasmHeap('step 3'));
    assert.doesNotThrow(() => assertWasmHeap('step 3', bytes));
    assert.throws(
      () => assertWasmHeap('step 3', 2 ** 20),
      (e: unknown) => e instanceof WasmHeapError && e.heapBytes === bytes && /^step 3: the wasm heap grew to \d+\.\d\d GiB, past the 0\.00 GiB trusted; use a smaller batch/.test(e.message),
    );
  });
  it('is a no-op on the cpu backend', async () => {
    await initEngine('cpu');
    assert.equal(wasmHeapBytes(), undefined);
    assert.doesNotThrow(() => assertWasmHeap('step 1', 0));
  });
});
