/**
 * The two model interfaces the ranking pipeline needs. Batching, top-k, run files, interruption and
 * metrics depend only on these, so they are tested with deterministic scorers; src/rank/encoder.ts
 * adapts a GemmaEncoder to them.
 */

/** Cross-encoder: one relevance score per (query, passage) pair; higher = more relevant. */
export interface PairScorer {
  /** queries[i] pairs with passages[i]; returns one score per pair. */
  scoreBatch(queries: readonly string[], passages: readonly string[]): Promise<Float32Array>;
}

export type EmbedRole = 'query' | 'passage';

/** Bi-encoder: one vector per text; `role` lets a model use different prompts for queries and passages. */
export interface TextEmbedder {
  embed(texts: readonly string[], role: EmbedRole): Promise<Float32Array[]>;
}
