/**
 * gemma-lab public API (`import { ... } from 'gemma-lab'`). This file only re-exports; each concern lives in
 * its own folder. The package's `exports` map makes this, `gemma-lab/experiments` (ablation runner, result
 * store, findings) and `gemma-lab/package.json` the only entry points; test/api/public-api.test.ts checks that
 * every project type named in an exported signature is exported too (docs/api.md).
 */

// Errors, progress, randomness, atomic files
export * from './errors.js';
export { type ProgressEvent, type ProgressCallback, type RunControl, throwIfAborted, terminalProgress } from './progress/index.js';
export { Rng, type RngState } from './rng/index.js';
export { writeFileAtomic, writeJsonAtomic } from './io/atomic.js';
export { sharedDataPath, sharedDir } from './io/paths.js';

// Engine
export { initEngine, setComputeDtype, getComputeDtype, type EngineInfo, type EngineOptions, type BackendChoice, type NativeLib, type ComputeDtype } from './engine/index.js';

// Checkpoints, Hub, tokenizers
export { openCheckpoint, saveCheckpoint, type Checkpoint, type TensorInfo } from './checkpoint/index.js';
export { readSafetensors, writeSafetensors, toFloat32, fromFloat32, type DType, type HostTensor, type ChunkedHostTensor, type StoredTensor } from './checkpoint/safetensors.js';
export { parseHubRef, resolveModelSource, type HubRef, type HubTimeouts, type ResolveOptions, type RetryOptions } from './checkpoint/hub.js';
export { loadTokenizer, tokenizerFromJson, encodeBatch, type Tokenizer, type BatchOptions, type EncodeOptions, type SpecialNames } from './tokenize/index.js';
export { padRight, batchFromRows, batchRows, type PaddedBatch, type Labelled } from './tokenize/batch.js';
export { trimTokenizer, readTokenizerFiles, saveTrimmedTokenizer, type TokenizerFiles, type TrimOptions, type TrimResult } from './tokenize/trim.js';

// Models
export { parseGemmaConfig, type GemmaConfig, type GemmaModelType, type ParseOptions, type LayerType, type GemmaStackConfig } from './config/gemma.js';
export { parseT5GemmaConfig, type T5GemmaConfig, type T5GemmaDecoderConfig, type T5GemmaModuleConfig } from './config/t5gemma.js';
export { loadModel, loadGemmaModel, loadDecoderModel, randomLike, type DecoderModel } from './models/load.js';
export { parseGemma4Config, gemma4ConfigToJson, type Gemma4Config, type Gemma4ModelType, type Gemma4Layer, type Gemma4Rope } from './config/gemma4.js';
export { Gemma4Model, loadGemma4, gemma4ParameterShapes } from './models/gemma4.js';
export { type LoadOptions as ModelLoadOptions, type StoredDtype, type ModelClass, type HostParams } from './models/base.js';
export { HostTable, type TableDtype } from './models/host-table.js';
export { type LoadedModel } from './models/registry.js';
export { GemmaModel, type ForwardOptions, type ForwardOutput, type DropoutRates } from './models/gemma.js';
export { T5GemmaModel, loadT5Gemma, type T5GemmaOutput, type T5GemmaRunOptions } from './models/t5gemma.js';
export { parseT5Gemma2Config, type T5Gemma2Config } from './config/t5gemma2.js';
export { T5Gemma2Model, loadT5Gemma2, type T5Gemma2Output, type T5Gemma2RunOptions } from './models/t5gemma2.js';
export { DecoderCache } from './models/kvcache.js';
export { type LayerKv } from './nn/cached_attention.js';
export { ATTENTION_MODES, type AttentionMode } from './nn/masks.js';
export { POOLINGS, pool, attentionPool, type Pooling, type TokenPooling, type AttentionPoolWeights } from './nn/pooling.js';
export { parseGemma3MultimodalConfig, GEMMA3_TEXT_DEFAULTS } from './config/gemma3.js';
export { configJsonForMode } from './models/hf-save.js';

// Sentence embeddings (sentence-transformers pipelines, EmbeddingGemma)
export { embed, loadEmbedder, SentenceEmbedder, CheckpointTokenizer, meanPoolingPipeline, type EmbedOptions, type EmbedInputIds, type LoadEmbedderOptions } from './embed/embed.js';
export { readStPipeline, ST_POOLING_MODES, type StPipeline, type StModule, type StPooling, type StDense, type StNormalize, type StPoolingMode, type StActivation } from './embed/st.js';
export { saveSentenceTransformer, type SaveStOptions } from './embed/save.js';

// Gemma Encoder and training
export { toEncoder, GemmaEncoder, type EncoderOptions, type DropoutPlacement, type Prediction, type RunOpts as EncoderRunOptions } from './encoder/encoder.js';
export { gemmaBackbone, t5gemmaEncoderBackbone, type EncoderBackbone, type BackboneRun, type BackboneDropout, type DecoderStack } from './encoder/backbone.js';
export { EncoderHead, headLoss, type HeadOptions, type HeadSpec } from './encoder/head.js';
export {
  finetuneGlue,
  evaluateGlue,
  glueFile,
  exampleTokenizer,
  trainSubset,
  type GlueFinetuneOptions,
  type GlueFinetuneResult,
  type GlueEvalOptions,
  type GlueEvalResult,
  type ExampleTokenizer,
} from './encoder/glue.js';
export {
  train,
  TrainingInterrupted,
  type TrainOptions,
  type TrainResult,
  type Trainable,
  type TrainData,
  type CheckpointOptions,
  type EvalOptions,
  type EvalRecord,
  type StepLog,
} from './train/trainer.js';
export { type AdamWOptions } from './train/optimizer.js';
export { type ScheduleOptions } from './train/schedule.js';

// T5Gemma adaptation
export { toEncoderDecoder, type ToEncoderDecoderOptions, type CrossAttentionInit, type EncoderDecoderRecipe } from './t5gemma/build.js';
export { greedyDecode, beamSearch, sampleDecode, type BeamOptions, type DecodeOptions, type SampleOptions, type Hypothesis, type StepFn } from './t5gemma/decode.js';
export { generate, cachedStepFn, uncachedStepFn, type GenerateOptions, type EncoderDecoderModel } from './t5gemma/generate.js';
export { pretrain as pretrainEncoderDecoder, type PretrainOptions as EncoderDecoderPretrainOptions, type Objective } from './t5gemma/pretrain.js';
export {
  classifySuperGlue,
  generateSuperGlue,
  superglueClassifier,
  classProbabilities,
  type GenerateScoreOptions,
  type IdxPrediction,
  type ScoreOptions,
  type SuperGluePredictions,
} from './t5gemma/superglue.js';
export { superglueEndToEnd, superglueE2EBudget, type SuperGlueE2EOptions, type SuperGlueE2EBudget, type E2EReport, type E2EResultRow, type AdaptObjective, type E2ETask } from './experiments/superglue_e2e.js';

// Benchmarks: data, metrics, submissions
export { type Example, type LoadOptions as TaskLoadOptions, type LoadedSplit, type MetricName, type RunEntry, type SkippedRow, type TaskSpec, labelsOf } from './tasks/types.js';
export { loadGlue, loadGlueShared, GLUE_TASKS, GLUE_TASK_IDS, type GlueTaskId, type GlueTaskSpec } from './tasks/glue.js';
export {
  loadSuperGlue,
  SUPERGLUE_TASKS,
  SUPERGLUE_TASK_IDS,
  type SuperGlueTaskId,
  type SuperGlueTaskSpec,
  type SuperGlueSplit,
  type SuperGlueRecords,
  type AxbRecord,
  type AxgRecord,
  type BoolQRecord,
  type CopaRecord,
  type MultiRCRecord,
  type NliRecord,
  type ReCoRDRecord,
  type WiCRecord,
  type WscRecord,
} from './tasks/superglue.js';
export * as msmarco from './tasks/msmarco.js';
export * as metrics from './eval/metrics.js';
export { scoreGlueTask, glueAverage, writeGlueSubmission, type GlueAverage, type GluePrediction, type TaskResult } from './eval/glue.js';
export { scoreSuperGlueTask, superglueAverage, writeSuperGlueSubmission, type MultiRCPrediction, type SimpleSuperGlueTask } from './eval/superglue.js';
export {
  msmarcoMrr,
  trecEval,
  hitRate,
  type MsmarcoMrrResult,
  type Qrels,
  type Run,
  type TrecEvalOptions,
  type TrecEvalResult,
  type TrecQueryMeasures,
} from './eval/ranking.js';
export { rerank, type Candidate, type RerankOptions, type RerankQuery } from './rank/rerank.js';
export { denseRetrieve, type DenseOptions, type DensePassage, type DenseQuery, type Similarity } from './rank/dense.js';
export { type PairScorer, type TextEmbedder } from './rank/scorer.js';
export { writeTrecRun, writeMsmarcoRun } from './rank/runfile.js';
export { type ChartSpec } from './report/plots.js';

// Experiments: budgets and the sweep runner
export { runAblation, type AblationSpec, type RunFn } from './experiments/runner.js';
export { runSweep, type SweepResult, type EncoderFactory } from './experiments/sweep.js';
export { parseBudgetArgs, glueFinetuneOptions, type TrainBudget, type ModelIdentity } from './experiments/budget.js';

// Pretraining the tiny decoder
export {
  pretrain as pretrainDecoder,
  type PretrainOptions as DecoderPretrainOptions,
  type PretrainMetrics,
  type PretrainSettings,
  type EvalEntry,
  type PieceEval,
} from './pretrain/run.js';

// The analyst workflow: one call per experiment (docs/workflow.md)
export {
  finetune,
  evaluate,
  predictTest,
  runWorkflowSweep,
  exportHf,
  loadFinetuned,
  saveSentenceTransformerLayout,
  seedTable,
  rankFindingRun,
  type FinetuneResult,
  type WorkflowReport,
  type WorkflowSetup,
  type TaskRef,
  type EncoderSource,
  type EncoderVariantSpec,
  type WorkflowSweepSpec,
  type WorkflowSweepOptions,
  type ExportMeta,
  type LoadedFinetuned,
  type SuperGlueTrainTask,
} from './workflow/index.js';
export { type Selection } from './encoder/glue.js';
export { type TrecDlYear } from './rank/trecdl.js';
export { mergeRecords } from './experiments/store.js';
export { checkBudget } from './experiments/budget.js';
