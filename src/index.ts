/**
 * gemma-lab public API. This file only re-exports; each concern lives in its own folder.
 * Deep imports (`gemma-lab/dist/<folder>/<file>.js`) reach everything else.
 */

// Errors, progress, randomness, atomic files
export * from './errors.js';
export { type ProgressEvent, type ProgressCallback, type RunControl, throwIfAborted, terminalProgress } from './progress/index.js';
export { Rng, type RngState } from './rng/index.js';
export { writeFileAtomic, writeJsonAtomic } from './io/atomic.js';
export { sharedDataPath, sharedDir } from './io/paths.js';

// Engine
export { initEngine, type EngineInfo, type EngineOptions } from './engine/index.js';

// Checkpoints, Hub, tokenizers
export { openCheckpoint, saveCheckpoint, type Checkpoint, type TensorInfo } from './checkpoint/index.js';
export { readSafetensors, writeSafetensors, toFloat32, fromFloat32, type DType, type HostTensor } from './checkpoint/safetensors.js';
export { parseHubRef, resolveModelSource, type ResolveOptions } from './checkpoint/hub.js';
export { loadTokenizer, encodeBatch, type Tokenizer, type BatchOptions } from './tokenize/index.js';
export { padRight, batchFromRows, batchRows, type PaddedBatch, type Labelled } from './tokenize/batch.js';
export { trimTokenizer } from './tokenize/trim.js';

// Models
export { parseGemmaConfig, type GemmaConfig } from './config/gemma.js';
export { parseT5GemmaConfig, type T5GemmaConfig } from './config/t5gemma.js';
export { loadModel, loadGemmaModel } from './models/load.js';
export { GemmaModel, type ForwardOptions, type ForwardOutput } from './models/gemma.js';
export { T5GemmaModel, loadT5Gemma } from './models/t5gemma.js';
export { ATTENTION_MODES, type AttentionMode } from './nn/masks.js';
export { POOLINGS, pool, attentionPool, type Pooling, type TokenPooling } from './nn/pooling.js';

// Gemma Encoder and training
export { toEncoder, GemmaEncoder, type EncoderOptions, type DropoutPlacement, type Prediction } from './encoder/encoder.js';
export { gemmaBackbone, t5gemmaEncoderBackbone, type EncoderBackbone, type BackboneRun, type BackboneDropout } from './encoder/backbone.js';
export { EncoderHead, headLoss, type HeadOptions, type HeadSpec } from './encoder/head.js';
export { finetuneGlue, evaluateGlue, type GlueFinetuneOptions, type GlueFinetuneResult } from './encoder/glue.js';
export { train, type TrainOptions, type TrainResult, type Trainable } from './train/trainer.js';

// T5Gemma adaptation
export { toEncoderDecoder, type ToEncoderDecoderOptions } from './t5gemma/build.js';
export { greedyDecode, beamSearch } from './t5gemma/decode.js';
export { generate } from './t5gemma/generate.js';
export { pretrain as pretrainEncoderDecoder } from './t5gemma/pretrain.js';
export { classifySuperGlue, generateSuperGlue, superglueClassifier, classProbabilities } from './t5gemma/superglue.js';

// Benchmarks: data, metrics, submissions
export { loadGlue, loadGlueShared, GLUE_TASKS, type GlueTaskId } from './tasks/glue.js';
export { loadSuperGlue, SUPERGLUE_TASKS, type SuperGlueTaskId } from './tasks/superglue.js';
export * as msmarco from './tasks/msmarco.js';
export * as metrics from './eval/metrics.js';
export { scoreGlueTask, glueAverage, writeGlueSubmission } from './eval/glue.js';
export { scoreSuperGlueTask, superglueAverage, writeSuperGlueSubmission } from './eval/superglue.js';
export { msmarcoMrr, trecEval, hitRate } from './eval/ranking.js';
export { rerank } from './rank/rerank.js';
export { denseRetrieve } from './rank/dense.js';
export { writeTrecRun, writeMsmarcoRun } from './rank/runfile.js';

// Experiments: budgets and the sweep runner
export { runAblation, type AblationSpec, type RunFn } from './experiments/runner.js';
export { runSweep, type SweepResult, type EncoderFactory } from './experiments/sweep.js';
export { parseBudgetArgs, glueFinetuneOptions, type TrainBudget, type ModelIdentity } from './experiments/budget.js';

// Pretraining the tiny decoder
export { pretrain as pretrainDecoder } from './pretrain/run.js';
