/**
 * Strict parameter loading shared by every model family (style "What to absorb" 2): every expected
 * tensor must be stored with the expected shape, nothing unexpected may be stored, and the only
 * optional tensors are declared ties (e.g. `lm_head.weight` -> `model.embed_tokens.weight`).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Checkpoint } from '../checkpoint/index.js';
import { CheckpointError } from '../errors.js';
import { isTableDtype, loadHostTable, type HostTable } from './host-table.js';
import { variableFrom, variableFromHost } from './stream-load.js';

/**
 * Reads exactly the `expected` tensors (HF name -> shape) as trainable float32 variables.
 * `tied`: optional tensor -> the tensor it duplicates; a stored copy is accepted (shape-checked) and
 * not loaded. All names and shapes are checked before any data is read.
 */
export async function loadStrictParams(
  ckpt: Checkpoint,
  expected: ReadonlyMap<string, readonly number[]>,
  tied: Readonly<Record<string, string>> = {},
): Promise<Map<string, tf.Variable>> {
  return (await loadStrictParamsAndTables(ckpt, expected, tied, new Set())).params;
}

/**
 * `loadStrictParams` with the `tableNames` among `expected` read as frozen host tables (host-table.ts:
 * stored dtype, row chunks streamed from the file) instead of variables. Same checks, all before any read.
 */
export async function loadStrictParamsAndTables(
  ckpt: Checkpoint,
  expected: ReadonlyMap<string, readonly number[]>,
  tied: Readonly<Record<string, string>>,
  tableNames: ReadonlySet<string>,
): Promise<{ params: Map<string, tf.Variable>; tables: Map<string, HostTable> }> {
  for (const name of ckpt.tensorNames) {
    if (!expected.has(name) && !Object.hasOwn(tied, name))
      throw new CheckpointError('unexpected tensor (not a parameter of this model)', ckpt.info(name).file, name);
  }
  for (const [name, target] of Object.entries(tied)) {
    if (expected.has(name) || !ckpt.has(name)) continue;
    const want = expected.get(target) as readonly number[];
    const got = ckpt.info(name).shape;
    if (got.join(',') !== want.join(','))
      throw new CheckpointError(`tied to '${target}': expected shape [${want.join(', ')}], got [${got.join(', ')}]`, ckpt.info(name).file, name);
  }
  for (const [name, shape] of expected) {
    if (!ckpt.has(name)) throw new CheckpointError('missing tensor', ckpt.dir, name);
    const got = ckpt.info(name).shape;
    if (got.join(',') !== shape.join(','))
      throw new CheckpointError(`expected shape [${shape.join(', ')}], got [${got.join(', ')}]`, ckpt.info(name).file, name);
  }
  for (const name of tableNames) {
    const { dtype, file } = ckpt.info(name);
    if (expected.has(name) && !isTableDtype(dtype)) throw new CheckpointError(`dtype ${dtype} cannot be kept as a host table (F32, BF16 or F16)`, file, name);
  }
  const params = new Map<string, tf.Variable>();
  const tables = new Map<string, HostTable>();
  try {
    // One tensor at a time, widened straight into backend storage (stream-load.ts); tables as stored.
    for (const [name, shape] of expected) {
      if (tableNames.has(name)) tables.set(name, await loadHostTable(ckpt, name));
      else params.set(name, variableFromHost(await ckpt.loadTensor(name), shape, name));
    }
  } catch (err) {
    for (const v of params.values()) v.dispose();
    throw err;
  }
  return { params, tables };
}

/** Checks that `params` holds exactly the `expected` names (HF) with the expected shapes; `file` names the source in errors. */
export function checkParamShapes(
  params: ReadonlyMap<string, { readonly shape: readonly number[] }>,
  expected: ReadonlyMap<string, readonly number[]>,
  file: string,
): void {
  for (const [name, shape] of expected) {
    const v = params.get(name);
    if (!v) throw new CheckpointError('missing parameter', file, name);
    if (v.shape.join(',') !== shape.join(','))
      throw new CheckpointError(`expected shape [${shape.join(', ')}], got [${v.shape.join(', ')}]`, file, name);
  }
  for (const name of params.keys()) if (!expected.has(name)) throw new CheckpointError('unexpected parameter', file, name);
}

/**
 * Float32 host data keyed by HF name -> trainable variables, after `checkParamShapes` (so a bad map
 * throws before any variable exists).
 */
export function variablesFromFloat32(
  tensors: ReadonlyMap<string, { readonly shape: readonly number[]; readonly data: Float32Array }>,
  expected: ReadonlyMap<string, readonly number[]>,
  file: string,
): Map<string, tf.Variable> {
  checkParamShapes(tensors, expected, file);
  const params = new Map<string, tf.Variable>();
  for (const [name, t] of tensors) params.set(name, variableFrom(tf.tensor(t.data, [...t.shape], 'float32')));
  return params;
}
