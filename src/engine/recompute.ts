/**
 * Activation recomputation ("gradient checkpointing") for one block: y = body(inputs), recorded on
 * the gradient tape as a single node that saves only `inputs` (the block input, its weights, its
 * constant tables), not body's intermediates. Its backward runs body again under a tape of its own
 * and backpropagates dy through that. Memory of a backward pass drops from every block's
 * intermediates to one block's plus the block inputs, for one more forward of compute.
 * Why it is needed: a gemma-3-270m-shape encoder at B8 T1024 keeps ~1.2 GB of intermediates per
 * sample (18 layers) for backprop; with recomputation it keeps ~21 MB per layer-input.
 * `body` must be deterministic (no dropout: the recomputed masks would differ) and read its
 * weights from `xs`, not from variables captured outside, or they get no gradient.
 */
import * as tf from '@tensorflow/tfjs-core';

interface EngineInternals {
  state: { activeTape: unknown };
  gradients(f: () => tf.Tensor, xs: tf.Tensor[], dy?: tf.Tensor, allowNoGradients?: boolean): { value: tf.Tensor; grads: (tf.Tensor | undefined)[] };
}

/** Whether a gradient tape is recording (outside any kernel): only then is recomputation worth it. */
export function tapeRecording(): boolean {
  const state = (tf.engine() as unknown as { state: { gradientDepth: number; kernelDepth: number } }).state;
  return state.gradientDepth > 0 && state.kernelDepth === 0;
}

export function recompute<T extends tf.Tensor>(body: (xs: readonly tf.Tensor[]) => T, inputs: readonly tf.Tensor[]): T {
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const save = args.pop() as tf.GradSaveFunc;
    const xs = args as tf.Tensor[];
    save(xs);
    return {
      value: body(xs),
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const engine = tf.engine() as unknown as EngineInternals;
        // The nested gradients() call runs at gradient depth 0, so it replaces the engine's tape and
        // clears it when done; the outer backward pass still needs its tape for its final cleanup.
        const outer = engine.state.activeTape;
        try {
          const g = Array.isArray(dy) ? (dy[0] as tf.Tensor) : dy;
          const { value, grads } = engine.gradients(() => body(saved), saved, g, true);
          value.dispose();
          return saved.map((x, i) => grads[i] ?? tf.zerosLike(x));
        } finally {
          engine.state.activeTape = outer;
        }
      },
    };
  });
  return op(...inputs) as T;
}
