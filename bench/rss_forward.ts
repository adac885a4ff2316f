/**
 * Child process of `npm run bench -- torch`: one tiny-Gemma forward (LM loss) at the given batch in a
 * fresh process, then prints {"rss_mib", "peak_mib"} from /proc/self/status, so peak memory is
 * compared process against process with the PyTorch side.
 * Usage: node --import tsx bench/rss_forward.ts CONFIG_JSON B T
 */
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { parseGemmaConfig } from '../src/config/gemma.js';
import { initEngine } from '../src/engine/index.js';
import { GemmaModel } from '../src/models/gemma.js';

const [configJson, Bs, Ts] = process.argv.slice(2);
const B = Number(Bs);
const T = Number(Ts);
await initEngine('native');
const config = parseGemmaConfig(JSON.parse(configJson as string), 'bench/rss_forward.ts');
const model = GemmaModel.random(config, 1);
const rows = Array.from({ length: B }, (_, b) => Array.from({ length: T }, (_, t) => (b * 131 + t * 7) % config.vocabSize));
const loss = tf.tidy(() => {
  const logits = model.forward(rows, { attention: 'causal', logits: true }).logits as tf.Tensor3D;
  return tf.mean(tf.logSumExp(logits, -1));
});
loss.dataSync();
const status = readFileSync('/proc/self/status', 'utf8');
const kib = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status)?.[1] ?? NaN);
console.log(JSON.stringify({ rss_mib: kib('VmRSS') / 1024, peak_mib: kib('VmHWM') / 1024 }));
