/**
 * The training loop, generic over named tf.Variables and a loss closure.
 * Per step: abort check -> gradAccum micro-batches (loss + grads, weighted by examples) -> finiteness check
 * -> global-norm clip -> AdamW at the scheduled lr -> log -> eval/early stopping -> checkpoint.
 * Everything random flows from `seed` (data order per epoch, dropout seeds) and is checkpointed, so
 * "N steps straight" and "k steps, resume, N-k steps" give bit-identical weights and losses.
 */
import * as tf from '@tensorflow/tfjs-core';
import { assertWasmHeap } from '../engine/index.js';
import { AbortedError, TrainingError } from '../errors.js';
import { type RunControl } from '../progress/index.js';
import { Rng, type RngState } from '../rng/index.js';
import { latestCheckpoint, tensorsToSafetensors, decodeF32Safetensors, writeCheckpointDir } from './checkpoint.js';
import { clipByGlobalNorm, disposeGrads, globalNorm, nonFiniteNames, type Grads } from './grads.js';
import { AdamW, type AdamWOptions } from './optimizer.js';
import { makeSchedule, type ScheduleOptions } from './schedule.js';

/** What is trained: its variables and a mean loss over one batch (dropout seeded by `seed`). */
export interface Trainable<B> {
  readonly params: ReadonlyMap<string, tf.Variable>;
  loss(batch: B, ctx: { readonly seed: number }): tf.Scalar;
}

export interface TrainData<B> {
  /** The batches of epoch `epoch`, a pure function of (epoch, rng) so a resumed run sees the same order. */
  epoch(epoch: number, rng: Rng): readonly B[];
  /** Examples in a batch (weights micro-batches under accumulation). */
  size(batch: B): number;
}

export interface EvalOptions {
  /** Evaluate every `every` optimizer steps (and after the last step). */
  readonly every: number;
  readonly run: () => number | Promise<number>;
  readonly name?: string;
  readonly mode?: 'max' | 'min';
  /** Stop after this many evaluations without improvement; default: never. */
  readonly patience?: number;
  /** Put the best-scoring weights back at the end (default true). */
  readonly restoreBest?: boolean;
}

export interface CheckpointOptions {
  readonly dir: string;
  /** Save every `every` steps (and at the end); default only at the end. */
  readonly every?: number;
  /** Checkpoints kept (default 2). */
  readonly keep?: number;
  /** Save before throwing on abort (default true). */
  readonly onAbort?: boolean;
}

export interface TrainOptions extends RunControl {
  readonly seed: number;
  readonly maxSteps: number;
  /** lr schedule; totalSteps defaults to maxSteps. */
  readonly schedule: ScheduleOptions;
  readonly optimizer?: AdamWOptions;
  readonly gradAccumSteps?: number;
  /** Max global gradient norm; 0 or Infinity turns clipping off. Default 1.0 (HF). */
  readonly clipNorm?: number;
  readonly evaluate?: EvalOptions;
  readonly checkpoint?: CheckpointOptions;
  /** Continue from the newest valid checkpoint in checkpoint.dir (error when there is none). */
  readonly resume?: boolean;
  /** Called with each step's record (also kept in the result). */
  readonly onLog?: (rec: StepLog) => void;
}

export interface StepLog {
  /** 1-based optimizer step. */
  readonly step: number;
  readonly loss: number;
  readonly lr: number;
  /** Global gradient norm before clipping. */
  readonly gradNorm: number;
  readonly examples: number;
  readonly epoch: number;
  readonly ms: number;
}

export interface EvalRecord {
  readonly step: number;
  readonly metric: number;
}

export interface TrainResult {
  readonly steps: number;
  /** Step the run continued from (0 when it did not resume); logs before it come from the checkpoint. */
  readonly resumedFrom: number;
  readonly logs: readonly StepLog[];
  readonly evals: readonly EvalRecord[];
  readonly best?: EvalRecord;
  readonly stopReason: 'max_steps' | 'early_stopping';
  readonly checkpoint?: string;
  /** Wall time of this call's steps (ms), excluding eval. */
  readonly trainMs: number;
}

/** A non-finite loss or gradient; names the step and the tensor ('loss' or a parameter name). */
export class NonFiniteError extends TrainingError {
  constructor(
    readonly step: number,
    readonly tensor: string,
    detail: string,
  ) {
    super(`step ${step}: non-finite ${detail}`);
  }
}

/** The loop stopped at an abort between steps; `checkpoint` is where it saved (if it did). */
export class TrainingInterrupted extends AbortedError {
  constructor(
    readonly step: number,
    readonly checkpoint: string | undefined,
  ) {
    super(`training interrupted after step ${step}${checkpoint ? `; saved ${checkpoint}` : ''}`, step);
  }
}

interface Cursor {
  epoch: number;
  index: number;
}

interface TrainerState {
  /** The run's seed: data order is derived from it, so a resume must use the same one. */
  seed: number;
  step: number;
  dropoutRng: RngState;
  cursor: Cursor;
  best: EvalRecord | null;
  badEvals: number;
  logs: StepLog[];
  evals: EvalRecord[];
}

/** Batches across epochs, restartable from a cursor. */
class BatchStream<B> {
  private batches: readonly B[];
  constructor(
    private readonly data: TrainData<B>,
    private readonly seed: number,
    readonly cursor: Cursor,
  ) {
    this.batches = this.load(cursor.epoch);
  }
  private load(epoch: number): readonly B[] {
    const b = this.data.epoch(epoch, new Rng(`${this.seed}/data/${epoch}`));
    if (b.length === 0) throw new TrainingError(`epoch ${epoch} has no batches (empty training set?)`);
    return b;
  }
  next(): B {
    if (this.cursor.index >= this.batches.length) {
      this.cursor.epoch += 1;
      this.cursor.index = 0;
      this.batches = this.load(this.cursor.epoch);
    }
    return this.batches[this.cursor.index++] as B;
  }
}

const yieldToEventLoop = () => new Promise<void>((r) => setImmediate(r));

export async function train<B>(model: Trainable<B>, data: TrainData<B>, o: TrainOptions): Promise<TrainResult> {
  const accum = o.gradAccumSteps ?? 1;
  const clipNorm = o.clipNorm ?? 1.0;
  const schedule = makeSchedule({ ...o.schedule, totalSteps: o.schedule.totalSteps ?? o.maxSteps });
  const mode = o.evaluate?.mode ?? 'max';
  const opt = new AdamW(model.params, o.optimizer);
  // variableGrads keys gradients by tf's global variable name; map back to our parameter names.
  const vars = [...model.params.values()];
  const nameOf = new Map([...model.params].map(([n, v]) => [v.name, n]));

  let st: TrainerState = {
    seed: o.seed,
    step: 0,
    dropoutRng: new Rng(o.seed).fork('dropout').state(),
    cursor: { epoch: 0, index: 0 },
    best: null,
    badEvals: 0,
    logs: [],
    evals: [],
  };
  let bestParams: Map<string, tf.Tensor> | undefined;
  let lastSaved: string | undefined;
  if (o.resume) {
    try {
      if (!o.checkpoint) throw new TrainingError('resume needs checkpoint.dir');
      const r = await restore(o.checkpoint.dir, model.params, opt);
      bestParams = r.bestParams;
      if (r.state.seed !== o.seed) throw new TrainingError(`${o.checkpoint.dir}: checkpoint was trained with seed ${r.state.seed}, resume asked for seed ${o.seed}`);
      st = r.state;
      lastSaved = r.path;
    } catch (err) {
      opt.dispose();
      if (bestParams) disposeGrads(bestParams);
      throw err;
    }
  }
  const dropoutRng = Rng.fromState(st.dropoutRng);
  const stream = new BatchStream(data, o.seed, { ...st.cursor });
  const resumedFrom = st.step;
  let lastSavedStep = o.resume ? st.step : -1;
  let stopReason: TrainResult['stopReason'] = 'max_steps';
  let trainMs = 0;

  const snapshot = (): TrainerState => ({ ...st, dropoutRng: dropoutRng.state(), cursor: { ...stream.cursor } });
  const save = async () => {
    if (!o.checkpoint || lastSavedStep === st.step) return;
    lastSaved = await saveCheckpoint(o.checkpoint.dir, o.checkpoint.keep ?? 2, snapshot(), model.params, opt, bestParams);
    lastSavedStep = st.step;
  };

  try {
    while (st.step < o.maxSteps) {
      await yieldToEventLoop();
      if (o.signal?.aborted) {
        if (o.checkpoint && o.checkpoint.onAbort !== false) await save();
        throw new TrainingInterrupted(st.step, o.checkpoint && o.checkpoint.onAbort !== false ? lastSaved : undefined);
      }
      const t0 = performance.now();
      const step = st.step + 1;
      const micro = Array.from({ length: accum }, () => stream.next());
      const total = micro.reduce((n, b) => n + data.size(b), 0);
      let lossSum = 0;
      let grads: Grads | undefined;
      for (const [i, b] of micro.entries()) {
        const w = data.size(b) / total;
        const seed = dropoutRng.seed();
        const { value, grads: g } = tf.variableGrads(() => model.loss(b, { seed }), vars);
        const loss = value.dataSync()[0] as number;
        value.dispose();
        if (!Number.isFinite(loss)) {
          disposeGrads(new Map(Object.entries(g)));
          if (grads) disposeGrads(grads);
          throw new NonFiniteError(step, 'loss', `loss ${loss} (micro-batch ${i + 1}/${accum})`);
        }
        lossSum += w * loss;
        const next: Grads = new Map();
        for (const [vname, gt] of Object.entries(g)) {
          const name = nameOf.get(vname) as string;
          const prev = grads?.get(name);
          next.set(name, tf.tidy(() => (prev ? prev.add(gt.mul(w)) : gt.mul(w))));
          prev?.dispose();
          gt.dispose();
        }
        grads = next;
      }
      let g = grads as Grads;
      try {
        assertWasmHeap(`step ${step}`);
      } catch (err) {
        disposeGrads(g);
        throw err;
      }
      const norm = globalNorm(g);
      if (!Number.isFinite(norm)) {
        const bad = nonFiniteNames(g);
        disposeGrads(g);
        throw new NonFiniteError(step, bad[0] ?? '?', `gradient in ${bad.map((n) => `'${n}'`).join(', ')} (norm ${norm})`);
      }
      if (clipNorm > 0 && Number.isFinite(clipNorm)) g = clipByGlobalNorm(g, norm, clipNorm);
      const lr = schedule(st.step);
      opt.apply(g, lr);
      disposeGrads(g);
      const ms = performance.now() - t0;
      trainMs += ms;
      st.step = step;
      const rec: StepLog = { step, loss: lossSum, lr, gradNorm: norm, examples: total, epoch: stream.cursor.epoch, ms };
      st.logs.push(rec);
      o.onLog?.(rec);
      o.onProgress?.({ phase: 'train', done: step, total: o.maxSteps, metrics: { loss: lossSum, lr } });

      const ev = o.evaluate;
      if (ev && (step % ev.every === 0 || step === o.maxSteps)) {
        const metric = await ev.run();
        if (!Number.isFinite(metric)) throw new NonFiniteError(step, ev.name ?? 'eval metric', `eval metric ${ev.name ?? ''} = ${metric}`);
        st.evals.push({ step, metric });
        o.onProgress?.({ phase: `eval${ev.name ? `:${ev.name}` : ''}`, done: step, total: o.maxSteps, metrics: { [ev.name ?? 'metric']: metric } });
        const better = !st.best || (mode === 'max' ? metric > st.best.metric : metric < st.best.metric);
        if (better) {
          st.best = { step, metric };
          st.badEvals = 0;
          if (ev.restoreBest !== false) {
            if (bestParams) disposeGrads(bestParams);
            bestParams = new Map([...model.params].map(([n, v]) => [n, tf.keep(v.clone())]));
          }
        } else st.badEvals += 1;
        if (ev.patience !== undefined && st.badEvals >= ev.patience) stopReason = 'early_stopping';
      }
      const every = o.checkpoint?.every;
      if (every && step % every === 0) await save();
      if (stopReason === 'early_stopping') break;
    }
    await save();
    if (bestParams && o.evaluate?.restoreBest !== false) {
      for (const [n, v] of model.params) v.assign(bestParams.get(n) as tf.Tensor);
    }
  } finally {
    opt.dispose();
    if (bestParams) disposeGrads(bestParams);
  }
  return {
    steps: st.step,
    resumedFrom,
    logs: st.logs,
    evals: st.evals,
    ...(st.best ? { best: st.best } : {}),
    stopReason,
    ...(lastSaved ? { checkpoint: lastSaved } : {}),
    trainMs,
  };
}

async function saveCheckpoint(
  dir: string,
  keep: number,
  st: TrainerState,
  params: ReadonlyMap<string, tf.Variable>,
  opt: AdamW,
  bestParams: ReadonlyMap<string, tf.Tensor> | undefined,
): Promise<string> {
  const os = opt.state();
  const moments = new Map<string, tf.Tensor>();
  for (const [n, t] of os.m) moments.set(`m.${n}`, t);
  for (const [n, t] of os.v) moments.set(`v.${n}`, t);
  const files = new Map<string, Uint8Array | string>([
    ['model.safetensors', await tensorsToSafetensors(params)],
    ['optimizer.safetensors', await tensorsToSafetensors(moments)],
    ['trainer_state.json', JSON.stringify({ ...st, optimizerStep: os.step }, null, 1)],
  ]);
  if (bestParams) files.set('best.safetensors', await tensorsToSafetensors(bestParams));
  return writeCheckpointDir(dir, st.step, { files }, keep);
}

async function restore(
  dir: string,
  params: ReadonlyMap<string, tf.Variable>,
  opt: AdamW,
): Promise<{ path: string; state: TrainerState; bestParams?: Map<string, tf.Tensor> }> {
  const ck = await latestCheckpoint(dir);
  const file = (name: string) => {
    const b = ck.files.get(name);
    if (!b) throw new TrainingError(`${ck.path}: checkpoint lacks ${name}`);
    return b;
  };
  const toTensors = (name: string) => {
    const m = new Map<string, tf.Tensor>();
    for (const [n, t] of decodeF32Safetensors(file(name), `${ck.path}/${name}`)) m.set(n, tf.tensor(t.data, t.shape, 'float32'));
    return m;
  };
  const weights = toTensors('model.safetensors');
  for (const [n, v] of params) {
    const t = weights.get(n);
    if (!t) throw new TrainingError(`${ck.path}/model.safetensors: missing parameter '${n}'`);
    if (t.shape.join(',') !== v.shape.join(',')) throw new TrainingError(`${ck.path}/model.safetensors: '${n}' has shape [${t.shape}], model has [${v.shape}]`);
    v.assign(t);
  }
  disposeGrads(weights);
  const moments = toTensors('optimizer.safetensors');
  const pick = (prefix: string) => new Map([...moments].filter(([n]) => n.startsWith(prefix)).map(([n, t]) => [n.slice(prefix.length), t]));
  const state = JSON.parse(Buffer.from(file('trainer_state.json')).toString('utf8')) as TrainerState & { optimizerStep: number };
  const { optimizerStep, ...rest } = state;
  opt.load({ step: optimizerStep, m: pick('m.'), v: pick('v.') });
  disposeGrads(moments);
  const bestParams = ck.files.has('best.safetensors') ? toTensors('best.safetensors') : undefined;
  return { path: ck.path, state: rest, ...(bestParams ? { bestParams } : {}) };
}
