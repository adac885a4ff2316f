/**
 * The library as notebooks see it: `const gl = await $nb.lib()`. Loaded on demand, not by the
 * prelude, so a kernel starts (and shows a proper error) even while a model module fails to load.
 */
export { GLUE_TASKS, GLUE_TASK_IDS, loadGlue, type GlueTaskId, type GlueTaskSpec } from '../tasks/glue.js';
export { labelsOf, type Example, type LoadedSplit } from '../tasks/types.js';
export { loadModel, loadGemmaModel, loadDecoderModel, type LoadedModel, type DecoderModel } from '../models/load.js';
export { GemmaModel } from '../models/gemma.js';
export { Gemma4Model } from '../models/gemma4.js';
export { toEncoder, GemmaEncoder, type EncoderOptions } from '../encoder/encoder.js';
export { evaluateGlue, exampleTokenizer, finetuneGlue, glueFile, trainSubset, type ExampleTokenizer, type GlueFinetuneResult } from '../encoder/glue.js';
export { defaultGemma3TokenizerDir, encodeBatch, loadTokenizer, tokenizerFromJson, type BatchOptions, type PaddedBatch, type Tokenizer } from '../tokenize/index.js';
export { trimTokenizer } from '../tokenize/trim.js';
export { T5GemmaModel } from '../models/t5gemma.js';
export { scoreGlueTask } from '../eval/glue.js';
export { accuracy, mcc } from '../eval/metrics.js';
export { Rng } from '../rng/index.js';
export { throwIfAborted } from '../progress/index.js';
export * as errors from '../errors.js';
export { finetune, evaluate, predictTest, runWorkflowSweep, exportHf, loadFinetuned, seedTable, type FinetuneResult, type WorkflowReport } from '../workflow/index.js';
