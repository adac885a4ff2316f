/**
 * Held-out perplexity of any causal Gemma checkpoint on the corpus's heldout pieces, at a chosen context
 * length: compares models pretrained with different sequence lengths on the same targets' footing
 * (`npm run pretrain` scores at its own --seq-len). Reads the token streams an `npm run pretrain` folder cached
 * (tokens/heldout-*.bin), so the checkpoint must share that run's tokenizer (checked by vocabulary size).
 *
 *   node --import tsx scripts/heldout-ppl.ts --model DIR --tokens PRETRAIN_OUT/tokens [--seq-len 128]
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { initEngine, loadModel, loadTokenizer } from 'gemma-lab';
import { evaluateNll, perplexity } from '../src/pretrain/loss.js';
import { PackedSequences } from '../src/pretrain/pack.js';
import { GemmaModel } from '../src/models/gemma.js';

const { values: a } = parseArgs({
  options: { model: { type: 'string' }, tokens: { type: 'string' }, 'seq-len': { type: 'string', default: '128' } },
  strict: true,
});
if (!a.model || !a.tokens) {
  console.error('usage: heldout-ppl.ts --model DIR --tokens PRETRAIN_OUT/tokens [--seq-len 128]');
  process.exit(2);
}
const seqLen = Number(a['seq-len']);
await initEngine();
const model = await loadModel(a.model);
if (!(model instanceof GemmaModel)) throw new Error(`${a.model}: not a Gemma 1-3 decoder`);
const tok = loadTokenizer(a.model);
if (tok.vocabSize !== model.config.vocabSize) throw new Error(`${a.model}: tokenizer vocabulary ${tok.vocabSize} != config ${model.config.vocabSize}`);
const specials = { bosId: tok.bosId, eosId: tok.eosId, padId: tok.padId };
let nll = 0;
let tokens = 0;
for (const piece of ['wikipedia', 'bbc', 'books']) {
  const bytes = readFileSync(join(a.tokens, `heldout-${piece}.bin`));
  const stream = new Int32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  if (stream.some((id) => id >= tok.vocabSize)) throw new Error(`${a.tokens}: token ids beyond the model's vocabulary (another tokenizer?)`);
  const r = await evaluateNll(model, new PackedSequences(stream, seqLen, 'pad', tok.padId), specials);
  nll += r.nll;
  tokens += r.tokens;
  console.log(`${piece}: ${perplexity(r).toFixed(2)} (${r.tokens} targets)`);
}
console.log(`pooled: ${perplexity({ nll, tokens }).toFixed(2)} (${tokens} targets, context ${seqLen})`);
model.dispose();
