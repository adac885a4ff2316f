/** The analyst workflow: finetune / evaluate / predictTest, sweeps with a result store, export (see docs/workflow.md). */
export { finetune, evaluate, predictTest, checkTestFile, parseTask, taskEncoder, type FinetuneResult, type WorkflowReport, type WorkflowSetup, type TaskRef, type EncoderVariantSpec, type EncoderSource } from './finetune.js';
export { runWorkflowSweep, checkSweep, type WorkflowSweepSpec, type WorkflowSweepOptions } from './sweep.js';
export { exportHf, loadFinetuned, saveSentenceTransformerLayout, type ExportMeta, type LoadedFinetuned } from './export.js';
export { seedStats, seedTable, t975 } from './stats.js';
export { loadRankingGroups, rerankScores, retrieveScores } from './ranking.js';
export { finetuneSuperGlue, evaluateSuperGlueRecords, type SuperGlueTrainTask } from './superglue.js';
export { rankFindingRun, rankBudget, rankVariant, stsbSpearman, type RankBudget, type RankVariant } from './rank_findings.js';
