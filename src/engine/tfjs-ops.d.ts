// Types of the generated tfjs-ops.js (scripts/bundle-tfjs-ops.mjs): it registers tfjs-core's gradients
// and chained tensor methods; this brings the methods' declarations (x.square(), x.sum(), ...) into scope.
import '@tensorflow/tfjs-core/dist/public/chained_ops/register_all_chained_ops.js';
