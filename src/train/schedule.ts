/**
 * Learning-rate schedules: linear warmup, then linear or cosine decay (HF `get_*_schedule_with_warmup`).
 * `step` is the number of optimizer updates already done, so update number s (0-based) uses lrAt(s):
 * like HF, the very first update runs at lr 0 when warmupSteps > 0.
 */
import { ConfigError } from '../errors.js';

export interface ScheduleOptions {
  /** Peak learning rate, reached at the end of warmup. */
  readonly lr: number;
  readonly warmupSteps?: number;
  /** Total optimizer updates; decay reaches `minLrRatio * lr` here. Required for linear/cosine. */
  readonly totalSteps?: number;
  readonly decay?: 'constant' | 'linear' | 'cosine';
  /** Floor of the decay as a fraction of `lr` (0 = decay to zero, HF default). */
  readonly minLrRatio?: number;
}

export type Schedule = (step: number) => number;

export function makeSchedule(o: ScheduleOptions): Schedule {
  const warmup = o.warmupSteps ?? 0;
  const decay = o.decay ?? 'linear';
  const floor = o.minLrRatio ?? 0;
  if (!(o.lr >= 0) || !Number.isFinite(o.lr)) throw new ConfigError(`must be a finite number >= 0, got ${o.lr}`, undefined, 'lr');
  if (!(warmup >= 0)) throw new ConfigError(`must be >= 0, got ${warmup}`, undefined, 'warmupSteps');
  if (decay !== 'constant' && !(o.totalSteps !== undefined && o.totalSteps > warmup)) {
    throw new ConfigError(`'${decay}' decay needs totalSteps > warmupSteps (${warmup}), got ${o.totalSteps}`, undefined, 'totalSteps');
  }
  const total = o.totalSteps ?? 0;
  return (step) => {
    if (step < warmup) return (o.lr * step) / Math.max(1, warmup);
    if (decay === 'constant') return o.lr;
    const progress = Math.min(1, (step - warmup) / (total - warmup));
    const f = decay === 'linear' ? 1 - progress : 0.5 * (1 + Math.cos(Math.PI * progress));
    return o.lr * (floor + (1 - floor) * f);
  };
}
