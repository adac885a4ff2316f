/** Budgets, the sweep runner, JSONL result store and summaries (see runner.ts). */
export * from './budget.js';
export * from './grid.js';
export * from './store.js';
export * from './runner.js';
export * from './summary.js';
export * from './findings.js';
export * from './lr_search.js';
export { glueEncoderRun, modelIdentity } from './glue.js';
export { ARM_TASKS, superglueArmRun, superglueSeq2SeqRun } from './superglue.js';
export * from './sweep.js';
