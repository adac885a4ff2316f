/**
 * Bench plumbing: a section is one file exporting a `BenchSection`; main.ts lists them. Timings
 * are ratios against a baseline measured in the same run (the box is shared and noisy).
 */
import { cpus, loadavg } from 'node:os';
import { type GemmaConfig, parseGemmaConfig } from '../src/config/gemma.js';
import { type Tokenizer, tokenizerFromJson } from '../src/tokenize/index.js';
import { readTokenizerFiles, trimTokenizer } from '../src/tokenize/trim.js';

export interface Table {
  readonly title: string;
  readonly columns: readonly string[];
  readonly rows: readonly (readonly (string | number)[])[];
  readonly notes?: readonly string[];
}

export interface BenchContext {
  /** Progress lines (stderr), so stdout holds just the tables. */
  readonly log: (line: string) => void;
}

export interface BenchSection {
  readonly name: string;
  readonly description: string;
  run(ctx: BenchContext): Promise<Table[]>;
}

export interface Timing {
  /** Median seconds per call. */
  readonly median: number;
  readonly runs: number;
}

/**
 * Median time of `fn` after `warmup` calls, repeating until both `minRuns` runs and `minSeconds`
 * of measured time are done (slow baselines: set minRuns 1, minSeconds 0).
 */
export async function timeIt(
  fn: () => unknown,
  { warmup = 1, minRuns = 3, minSeconds = 1 }: { warmup?: number; minRuns?: number; minSeconds?: number } = {},
): Promise<Timing> {
  for (let i = 0; i < warmup; i++) await fn();
  const times: number[] = [];
  const start = performance.now();
  while (times.length < minRuns || performance.now() - start < minSeconds * 1000) {
    const t0 = performance.now();
    await fn();
    times.push((performance.now() - t0) / 1000);
  }
  times.sort((a, b) => a - b);
  return { median: times[Math.floor(times.length / 2)] as number, runs: times.length };
}

export function fmt(x: number, digits = 1): string {
  if (!Number.isFinite(x)) return String(x);
  return x >= 100 ? x.toFixed(0) : x.toFixed(digits);
}

export function ratio(x: number, base: number): string {
  return `${fmt(x / base)}x`;
}

export function formatTable(t: Table): string {
  const cells = [t.columns.map(String), ...t.rows.map((r) => r.map(String))];
  const widths = t.columns.map((_, c) => Math.max(...cells.map((r) => (r[c] ?? '').length)));
  const line = (r: readonly string[]) => `| ${r.map((v, c) => (c === 0 ? v.padEnd(widths[c] as number) : v.padStart(widths[c] as number))).join(' | ')} |`;
  const out = [`### ${t.title}`, '', line(cells[0] as string[]), `|${widths.map((w, c) => (c === 0 ? ':' : '-') + '-'.repeat(w) + (c === 0 ? '-' : ':')).join('|')}|`];
  for (const r of cells.slice(1)) out.push(line(r));
  for (const n of t.notes ?? []) out.push('', n);
  return out.join('\n');
}

export function machineLine(): string {
  const cpu = cpus()[0]?.model ?? 'unknown cpu';
  return `${cpu}, ${cpus().length} cores, node ${process.version}, load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`;
}

/**
 * The fixed tiny model of the task sections: the Gemma 3 tokenizer trimmed to `texts` (so the
 * embedding table stays small) and a Gemma 2 config over that vocabulary (D64 F128 L2 H4 G2 K16,
 * sliding + full layer). `source` names the caller in config errors.
 */
export function tinyGemma2(texts: Iterable<string>, source: string): { tok: Tokenizer; config: GemmaConfig } {
  const trimmed = trimTokenizer(readTokenizerFiles(), texts);
  const tok = tokenizerFromJson(trimmed.tokenizerJson, trimmed.config, { eos: ['<eos>'] }, 'trimmed');
  const config = parseGemmaConfig(
    {
      model_type: 'gemma2', vocab_size: tok.vocabSize, hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2,
      num_attention_heads: 4, num_key_value_heads: 2, head_dim: 16, query_pre_attn_scalar: 16, sliding_window: 64,
      layer_types: ['sliding_attention', 'full_attention'], attn_logit_softcapping: 50, final_logit_softcapping: 30,
      rms_norm_eps: 1e-6, rope_theta: 10000, pad_token_id: tok.padId, bos_token_id: tok.bosId, eos_token_id: tok.eosId,
      initializer_range: 0.02, hidden_activation: 'gelu_pytorch_tanh', max_position_embeddings: 512,
    },
    source,
  );
  return { tok, config };
}
