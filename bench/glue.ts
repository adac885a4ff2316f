/**
 * GLUE examples/s of a fixed tiny Gemma Encoder (random init, D64 L2, mean pooling, trimmed Gemma 3 vocab)
 * on real SST-2 (single sentences) and MRPC (pairs) rows: eval = predict over the dev set in length-sorted
 * batches of 64; train = optimizer steps (AdamW, batch 32, dropout 0.1) through src/train. Stock wasm vs
 * native kernels, same weights and batches.
 */
import { toEncoder } from '../src/encoder/encoder.js';
import { exampleTokenizer, glueFile } from '../src/encoder/glue.js';
import { initEngine } from '../src/engine/index.js';
import { GemmaModel } from '../src/models/gemma.js';
import { loadGlue, type GlueTaskId } from '../src/tasks/glue.js';
import { padRight, type Labelled } from '../src/tokenize/batch.js';
import { bucketedBatches, sequentialBatches } from '../src/train/batching.js';
import { train } from '../src/train/trainer.js';
import { type BenchSection, fmt, ratio, type Table, timeIt, tinyGemma2 } from './harness.js';

const TASKS: readonly GlueTaskId[] = ['sst2', 'mrpc'];
const TRAIN_ROWS = 2048;
const TRAIN_STEPS = 8;

const section: BenchSection = {
  name: 'glue',
  description: `GLUE examples/s, tiny Gemma Encoder (eval: dev set, B64; train: ${TRAIN_STEPS} AdamW steps, B32)`,
  async run(ctx) {
    const data = new Map<GlueTaskId, { train: string[][]; dev: string[][]; trainLabels: number[]; devLabels: number[] }>();
    for (const task of TASKS) {
      const tr = (await loadGlue(task, glueFile(task, 'train'))).examples.slice(0, TRAIN_ROWS);
      const dv = (await loadGlue(task, glueFile(task, 'dev'))).examples;
      data.set(task, {
        train: tr.map((e) => [...e.texts]),
        dev: dv.map((e) => [...e.texts]),
        trainLabels: tr.map((e) => e.label as number),
        devLabels: dv.map((e) => e.label as number),
      });
    }
    ctx.log('glue: trimming the Gemma 3 vocabulary to the bench texts');
    const allTexts = [...data.values()].flatMap((d) => [...d.train, ...d.dev].flat());
    const { tok, config } = tinyGemma2(allTexts, 'bench/glue.ts');
    const encode = exampleTokenizer(tok, 128);

    const rows: (string | number)[][] = [];
    for (const task of TASKS) {
      const d = data.get(task)!;
      const ids = (texts: string[][]) => texts.map((t) => encode.encode(t as [string] | [string, string]));
      const devIds = ids(d.dev);
      const trainIds = ids(d.train);
      const devBatches: Labelled[] = sequentialBatches(devIds.map((s) => s.length), 64).map((r) => ({
        ...padRight(r.map((i) => devIds[i]!), tok.padId),
        labels: r.map((i) => d.devLabels[i]!),
      }));
      const lengths = trainIds.map((s) => s.length);
      const measure = async (choice: 'wasm' | 'native') => {
        const engine = await initEngine(choice);
        ctx.log(`glue ${task}: ${engine.backend}${engine.native ? ' + native' : ''}`);
        const model = GemmaModel.random(config, 1);
        const enc = toEncoder(model, { attention: 'bidirectional_global', pooling: 'mean', dropout: { rate: 0.1 }, head: { kind: 'classification', numClasses: 2 }, seed: 1 });
        const evalT = await timeIt(() => devBatches.forEach((b) => enc.predict(b)), { warmup: 1, minRuns: 2, minSeconds: 1 });
        const run = await train(
          enc,
          {
            epoch: (_e, rng) => bucketedBatches(lengths, rng, { batchSize: 32 }).map((r) => ({ ...padRight(r.map((i) => trainIds[i]!), tok.padId), labels: r.map((i) => d.trainLabels[i]!) })),
            size: (b) => b.batch,
          },
          { seed: 0, maxSteps: TRAIN_STEPS + 1, schedule: { lr: 1e-3, decay: 'constant' } },
        );
        // Step 1 pays kernel warm-up: time steps 2..N.
        const timed = run.logs.slice(1);
        const trainEx = timed.reduce((n, l) => n + l.examples, 0) / (timed.reduce((s, l) => s + l.ms, 0) / 1000);
        enc.dispose();
        model.dispose();
        return { evalEx: devIds.length / evalT.median, trainEx, finalLoss: run.logs.at(-1)!.loss };
      };
      const stock = await measure('wasm');
      const native = await measure('native');
      const meanLen = fmt(devIds.reduce((s, x) => s + x.length, 0) / devIds.length);
      rows.push([`${task} eval ex/s (dev ${devIds.length}, mean ${meanLen} tokens)`, fmt(stock.evalEx), fmt(native.evalEx), ratio(native.evalEx, stock.evalEx)]);
      rows.push([`${task} train ex/s (B32, steps 2-${TRAIN_STEPS + 1})`, fmt(stock.trainEx), fmt(native.trainEx), ratio(native.trainEx, stock.trainEx)]);
    }
    const table: Table = {
      title: `GLUE examples/s, tiny Gemma Encoder (V${tok.vocabSize} D64 L2 H4, mean pooling, bidirectional)`,
      columns: ['', 'stock wasm', 'native', 'native / stock'],
      rows,
      notes: ['Train = forward + CE + tf.variableGrads + clip + AdamW via src/train (dropout on). Eval = encoder.predict.'],
    };
    return [table];
  },
};

export default section;
