/**
 * Length-bucketed batches: shuffle, cut into pools of `poolBatches` batches, sort each pool by length,
 * slice it into batches, then shuffle the batch order. Batches hold similar lengths (little padding)
 * while the order stays random; everything flows from the given Rng, so an epoch is reproducible.
 */
import { ConfigError } from '../errors.js';
import type { Rng } from '../rng/index.js';

export interface BucketOptions {
  readonly batchSize: number;
  /** Batches per sorting pool (bigger = less padding, less randomness). Default 50. */
  readonly poolBatches?: number;
  /** Drop a last batch smaller than batchSize (training); default false. */
  readonly dropLast?: boolean;
}

/** Example indices grouped into batches, given each example's length. */
export function bucketedBatches(lengths: readonly number[], rng: Rng, o: BucketOptions): number[][] {
  if (!(Number.isInteger(o.batchSize) && o.batchSize > 0)) throw new ConfigError(`must be a positive integer, got ${o.batchSize}`, undefined, 'batchSize');
  const pool = o.batchSize * (o.poolBatches ?? 50);
  const order = rng.shuffle(lengths.map((_, i) => i));
  const batches: number[][] = [];
  for (let start = 0; start < order.length; start += pool) {
    // Stable sort by length inside the pool; ties keep the shuffled order.
    const chunk = order.slice(start, start + pool).sort((a, b) => (lengths[a] as number) - (lengths[b] as number));
    for (let b = 0; b < chunk.length; b += o.batchSize) batches.push(chunk.slice(b, b + o.batchSize));
  }
  const kept = o.dropLast ? batches.filter((b) => b.length === o.batchSize) : batches;
  return rng.shuffle(kept);
}

/** Sequential batches in the given order (evaluation): sorted by length when `sortByLength`, for speed. */
export function sequentialBatches(lengths: readonly number[], batchSize: number, sortByLength = true): number[][] {
  const order = lengths.map((_, i) => i);
  if (sortByLength) order.sort((a, b) => (lengths[a] as number) - (lengths[b] as number));
  const out: number[][] = [];
  for (let b = 0; b < order.length; b += batchSize) out.push(order.slice(b, b + batchSize));
  return out;
}
