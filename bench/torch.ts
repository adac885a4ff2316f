/**
 * gemma-lab vs PyTorch CPU (Debian python3-torch, eager float32, bench/torch_gemma.py) on the same
 * configs and batch, interleaved run by run (one gemma-lab call, then one PyTorch call, ...) so both
 * see the same load on a shared box; best of N per side, ratio = PyTorch time / gemma-lab time
 * (> 1: gemma-lab is faster). The tiny train step also runs with bf16 compute (computeDtype 'bf16',
 * interleaved in the same rounds; PyTorch stays float32). Also the fused attention's sliding-vs-global
 * cost (gemma-lab only).
 * GEMMA_LAB_BENCH_ROUNDS sets N (default 5). Skipped with a note when python3-torch is absent.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { parseGemmaConfig } from '../src/config/gemma.js';
import { initEngine, setComputeDtype } from '../src/engine/index.js';
import { GemmaModel } from '../src/models/gemma.js';
import { causalLmLoss } from '../src/pretrain/loss.js';
import { scaledDotProductAttention } from '../src/nn/attention.js';
import { Rng } from '../src/rng/index.js';
import { AdamW } from '../src/train/optimizer.js';
import { type BenchSection, fmt, type Table } from './harness.js';

const PYTHON = '/usr/bin/python3';
const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'torch_gemma.py');
const ROUNDS = Number(process.env.GEMMA_LAB_BENCH_ROUNDS ?? 5);

const TINY = {
  model_type: 'gemma', vocab_size: 1024, hidden_size: 256, num_hidden_layers: 4, num_attention_heads: 4,
  num_key_value_heads: 4, head_dim: 64, intermediate_size: 1024, hidden_activation: 'gelu_pytorch_tanh',
  max_position_embeddings: 2048,
} as const;

/** gemma-3-270m's text config (random weights). */
const GEMMA3_270M = {
  model_type: 'gemma3_text', vocab_size: 262144, hidden_size: 640, intermediate_size: 2048, num_hidden_layers: 18,
  num_attention_heads: 4, num_key_value_heads: 1, head_dim: 256, query_pre_attn_scalar: 256, sliding_window: 512,
  layer_types: ['sliding_attention', 'sliding_attention', 'sliding_attention', 'sliding_attention', 'sliding_attention', 'full_attention',
    'sliding_attention', 'sliding_attention', 'sliding_attention', 'sliding_attention', 'sliding_attention', 'full_attention',
    'sliding_attention', 'sliding_attention', 'sliding_attention', 'sliding_attention', 'sliding_attention', 'full_attention'],
  rope_theta: 1000000, rope_local_base_freq: 10000, rms_norm_eps: 1e-6, hidden_activation: 'gelu_pytorch_tanh',
  max_position_embeddings: 32768, attn_logit_softcapping: null, final_logit_softcapping: null,
} as const;

interface Reply {
  readonly seconds?: number;
  readonly loss?: number;
  readonly params?: number;
  readonly torch?: string;
  readonly blas?: string[];
  readonly error?: string;
}

/** The PyTorch side: one long-lived python process answering one JSON line per request. */
class TorchPeer {
  private readonly proc = spawn(PYTHON, [SCRIPT, '2'], { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, OMP_WAIT_POLICY: 'passive' } });
  private readonly lines = createInterface({ input: this.proc.stdout })[Symbol.asyncIterator]();
  async ask(msg: object): Promise<Reply> {
    this.proc.stdin.write(`${JSON.stringify(msg)}\n`);
    const next = await this.lines.next();
    if (next.done) throw new Error('bench/torch_gemma.py exited');
    const r = JSON.parse(next.value) as Reply;
    if (r.error) throw new Error(`bench/torch_gemma.py: ${r.error}`);
    return r;
  }
  close(): void {
    this.proc.stdin.end();
  }
}

function torchAvailable(): string | undefined {
  const r = spawnSync(PYTHON, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

type Config = Record<string, unknown> & { vocab_size: number };

/** gemma-lab side of one config: forward (loss readback) and AdamW train step, like the python side. */
function gemmaLab(configJson: Config, B: number, T: number, logits: boolean) {
  const config = parseGemmaConfig(configJson, 'bench/torch.ts');
  const model = GemmaModel.random(config, 1);
  const V = configJson.vocab_size;
  const rng = new Rng('bench-torch');
  const rows = Array.from({ length: B }, () => Array.from({ length: T }, () => rng.int(V)));
  const labels = tf.tensor2d(rows, [B, T], 'int32');
  const weights = tf.ones([B, T]) as tf.Tensor2D;
  // The LM loss gemma-lab trains with (fused log-softmax + NLL, as PyTorch's F.cross_entropy).
  const loss = (): tf.Scalar => {
    const out = model.forward(rows, { attention: 'causal', logits });
    if (!logits) return tf.mean(tf.square(out.hiddenStates)) as tf.Scalar;
    return causalLmLoss(out.logits as tf.Tensor3D, labels, weights);
  };
  let opt: AdamW | undefined;
  return {
    params: model.parameterCount,
    forward(): { seconds: number; loss: number } {
      const t0 = performance.now();
      const l = tf.tidy(loss);
      const value = l.dataSync()[0] as number;
      l.dispose();
      return { seconds: (performance.now() - t0) / 1000, loss: value };
    },
    train(): { seconds: number; loss: number } {
      opt ??= new AdamW(model.params, { weightDecay: 0.01 });
      const t0 = performance.now();
      const vars = [...model.params.values()];
      const { value, grads } = tf.variableGrads(loss, vars);
      const named = new Map<string, tf.Tensor>();
      for (const [name, v] of model.params) named.set(name, grads[v.name] as tf.Tensor);
      opt.apply(named, 1e-4);
      const l = value.dataSync()[0] as number;
      tf.dispose([value, grads]);
      return { seconds: (performance.now() - t0) / 1000, loss: l };
    },
    dispose() {
      opt?.dispose();
      labels.dispose();
      weights.dispose();
      for (const v of model.params.values()) v.dispose();
    },
  };
}

const best = (xs: number[]) => Math.min(...xs);

const section: BenchSection = {
  name: 'torch',
  description: `gemma-lab vs PyTorch CPU, interleaved, best of ${ROUNDS}`,
  async run(ctx) {
    const info = await initEngine('native');
    const tables: Table[] = [];
    const torchVersion = torchAvailable();
    if (!torchVersion) {
      tables.push({ title: 'gemma-lab vs PyTorch CPU', columns: ['skipped'], rows: [[`${PYTHON} cannot import torch (apt-get install python3-torch)`]] });
    } else {
      const rows: (string | number)[][] = [];
      let blas = '?';
      const cases = [
        { label: 'tiny Gemma (D256 L4 H4 F1024 V1024), B16 T128', config: TINY as unknown as Config, B: 16, T: 128, logits: true, train: true },
        { label: 'gemma-3-270m config (random weights, no LM head), B4 T128', config: GEMMA3_270M as unknown as Config, B: 4, T: 128, logits: false, train: false },
      ];
      for (const c of cases) {
        const peer = new TorchPeer();
        try {
          ctx.log(`torch: ${c.label}`);
          const setup = await peer.ask({ cmd: 'setup', config: c.config, B: c.B, T: c.T, seed: 0, logits: c.logits, train: c.train });
          blas = (setup.blas ?? []).join(', ') || 'none found';
          const gl = gemmaLab(c.config, c.B, c.T, c.logits);
          for (const what of c.train ? (['forward', 'train'] as const) : (['forward'] as const)) {
            // train: gemma-lab fp32, PyTorch, gemma-lab bf16 each round (one PyTorch timing serves both ratios).
            const variants = what === 'train' ? (['float32', 'bf16'] as const) : (['float32'] as const);
            const mine = variants.map(() => [] as number[]);
            const theirs: number[] = [];
            const lossG = variants.map(() => NaN);
            let lossT = NaN;
            for (let r = 0; r <= ROUNDS; r++) {
              setComputeDtype('float32');
              const g = what === 'forward' ? gl.forward() : gl.train();
              const t = await peer.ask({ cmd: what });
              let g16: { seconds: number; loss: number } | undefined;
              if (variants.length > 1) {
                setComputeDtype('bf16');
                g16 = gl.train();
                setComputeDtype('float32');
              }
              if (r === 0) continue; // warm-up
              (mine[0] as number[]).push(g.seconds);
              lossG[0] = g.loss;
              if (g16) {
                (mine[1] as number[]).push(g16.seconds);
                lossG[1] = g16.loss;
              }
              theirs.push(t.seconds as number);
              lossT = t.loss as number;
              const bf = g16 ? `, gemma-lab bf16 ${fmt(g16.seconds * 1000)} ms` : '';
              ctx.log(`  ${what} round ${r}: gemma-lab ${fmt(g.seconds * 1000)} ms, torch ${fmt((t.seconds as number) * 1000)} ms${bf}`);
            }
            variants.forEach((dtype, i) => {
              const m = mine[i] as number[];
              rows.push([
                `${c.label}: ${what === 'train' ? 'AdamW train step' : 'forward'}${dtype === 'bf16' ? ', bf16 compute' : ''}`,
                fmt(best(m) * 1000),
                fmt(best(theirs) * 1000),
                `${(best(theirs) / best(m)).toFixed(2)}x`,
                `${(lossG[i] as number).toFixed(3)} / ${lossT.toFixed(3)}`,
              ]);
            });
          }
          gl.dispose();
          ctx.log(`  params: gemma-lab ${gl.params}, torch ${setup.params}`);
        } finally {
          peer.close();
        }
      }
      tables.push({
        title: `gemma-lab (${info.backend} + native, ${info.threads} threads) vs PyTorch ${torchVersion} CPU (2 threads), best of ${ROUNDS} interleaved`,
        columns: ['case', 'gemma-lab ms', 'PyTorch ms', 'speed ratio (PyTorch / gemma-lab)', 'loss gemma-lab / PyTorch'],
        rows,
        notes: [
          `PyTorch's BLAS: ${blas} (Debian's reference libblas3 makes PyTorch ~50x slower; install libopenblas0-pthread for a fair peer).`,
          'Same config and batch; different random weights, so losses agree only in size. Forward includes the LM cross entropy (tiny) or a mean-square of the hidden states (270m); train = forward + backward + AdamW.',
          "bf16 compute: gemma-lab's matmuls (forward and backward) round operands to bfloat16 with fp32 accumulation (AVX512-BF16 when present); PyTorch stays float32. Targets: fp32 train and forward >= 1.2x, bf16 train >= 1.5x.",
        ],
      });
    }

    if (torchVersion) {
      // Peak memory of one forward, each side in a fresh process (same model and batch).
      const [Bm, Tm] = [16, 1024];
      ctx.log(`torch: peak RSS of a tiny-Gemma forward at B${Bm} T${Tm}`);
      const child = spawnSync(process.execPath, ['--import', 'tsx', join(dirname(SCRIPT), 'rss_forward.ts'), JSON.stringify(TINY), String(Bm), String(Tm)], {
        encoding: 'utf8',
        env: { ...process.env, OMP_WAIT_POLICY: 'passive' },
      });
      const mine = JSON.parse(child.stdout.trim().split('\n').pop() ?? '{}') as { peak_mib?: number; rss_mib?: number };
      const peer = new TorchPeer();
      let theirs: { peak_mib?: number; rss_mib?: number } = {};
      try {
        await peer.ask({ cmd: 'setup', config: TINY, B: Bm, T: Tm, seed: 0, logits: true, train: false });
        await peer.ask({ cmd: 'forward', lse: true });
        theirs = (await peer.ask({ cmd: 'rss' })) as typeof theirs;
      } finally {
        peer.close();
      }
      tables.push({
        title: `peak RSS of one tiny-Gemma forward (logits + logsumexp), B${Bm} T${Tm}, fresh process each`,
        columns: ['', 'gemma-lab', 'PyTorch', 'gemma-lab / PyTorch'],
        rows: [
          ['peak RSS MiB', fmt(mine.peak_mib ?? NaN), fmt(theirs.peak_mib ?? NaN), ((mine.peak_mib ?? NaN) / (theirs.peak_mib ?? NaN)).toFixed(2)],
          ['RSS after MiB', fmt(mine.rss_mib ?? NaN), fmt(theirs.rss_mib ?? NaN), ''],
        ],
        notes: child.status === 0 ? [] : [`gemma-lab child failed: ${child.stderr.split('\n').slice(-3).join(' ')}`],
      });
    }

    // Sliding vs global: the fused kernel only visits the band (gemma-3-270m attention shapes). One
    // layer's attention forward and backward as a training step runs it: an upstream gradient dO comes
    // in, dQ/dK/dV go out. No loss op and no read-back: the native kernels run synchronously, and a
    // tf.sum plus reading 6 MB of gradients back into JS cost ~5 ms a call, a third of a sliding layer.
    const B = 1;
    const H = 4;
    const T = 1024;
    const d = 256;
    const W = 128;
    const rng = new Rng('bench-sliding');
    const normal = (n: number) => Float32Array.from({ length: n }, () => rng.normal());
    const q = tf.tensor4d(normal(B * H * T * d), [B, H, T, d]);
    const k = tf.tensor4d(normal(B * T * d), [B, 1, T, d]);
    const v = tf.tensor4d(normal(B * T * d), [B, 1, T, d]);
    const dO = tf.tensor4d(normal(B * H * T * d), [B, H, T, d]);
    const step = (causal: boolean, window: number | null, implementation: 'auto' | 'dense') => {
      const t0 = performance.now();
      const mask = { causal, window, keyMask: null };
      const g = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
        scaledDotProductAttention(a as tf.Tensor4D, b as tf.Tensor4D, c as tf.Tensor4D, { scale: 1 / 16, softcap: null, mask, implementation }),
      )([q, k, v], dO);
      const seconds = (performance.now() - t0) / 1000;
      tf.dispose(g);
      return seconds;
    };
    // (query, key) pairs a rule lets through, over the T rows: the work a mask allows.
    const pairs = (causal: boolean, window: number | null) => {
      let n = 0;
      for (let i = 0; i < T; i++) {
        const lo = window === null ? 0 : Math.max(0, i - window + 1);
        const hi = causal ? i + 1 : window === null ? T : Math.min(T, i + window);
        n += hi - lo;
      }
      return n;
    };
    const variants = [
      ['causal, sliding W=128 (fused)', true, W, 'auto'],
      ['causal, global (fused)', true, null, 'auto'],
      ['bidirectional, sliding |i-j|<128 (fused)', false, W, 'auto'],
      ['bidirectional, global (fused)', false, null, 'auto'],
      ['causal, sliding W=128 (dense reference path)', true, W, 'dense'],
      ['causal, global (dense reference path)', true, null, 'dense'],
    ] as const;
    const times = variants.map(() => [] as number[]);
    for (let r = 0; r <= ROUNDS; r++)
      variants.forEach(([, causal, w, impl], i) => {
        const s = step(causal, w, impl);
        if (r > 0) (times[i] as number[]).push(s);
      });
    tf.dispose([q, k, v, dO]);
    const b = (i: number) => best(times[i] as number[]);
    tables.push({
      title: `attention core forward+backward (dO in, dQ/dK/dV out), B${B} H${H} G1 d${d} T${T} (gemma-3-270m shapes), best of ${ROUNDS} interleaved`,
      columns: ['variant', 'ms', 'global / sliding', 'work ratio (pairs)', 'dense / fused'],
      rows: variants.map(([label, causal, w], i) => [
        label,
        fmt(b(i) * 1000),
        i % 2 === 0 ? `${(b(i + 1) / b(i)).toFixed(2)}x` : '',
        i % 2 === 0 ? `${(pairs(causal, null) / pairs(causal, w)).toFixed(2)}x` : '',
        i >= 4 ? `${(b(i) / b(i - 4)).toFixed(2)}x` : '',
      ]),
      notes: [
        'Work ratio: the (query, key) pairs a global layer computes over those a sliding one does; a perfect kernel reaches it, no kernel can beat it (beyond load noise).',
        'The dense path builds the [B,1,T,S] bias in JS and computes every score, so its sliding and global layers cost the same.',
      ],
    });
    return tables;
  },
};

export default section;
