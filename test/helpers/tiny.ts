/** Tiny Gemma 2 configs for tests: the shared HF config.json keys, overridden per test. */
import { parseGemmaConfig, type GemmaConfig } from '../../src/config/gemma.js';

/** `raw`: the config.json keys that differ from a 2-head, 1-KV-head Gemma 2 with softcaps 50/30 and specials pad 0, eos 1, bos 2. */
export function tinyGemma2(raw: Record<string, unknown>, source = 'test-config'): GemmaConfig {
  return parseGemmaConfig(
    {
      model_type: 'gemma2', num_attention_heads: 2, num_key_value_heads: 1, attn_logit_softcapping: 50, final_logit_softcapping: 30,
      rms_norm_eps: 1e-6, rope_theta: 10000, pad_token_id: 0, bos_token_id: 2, eos_token_id: 1, hidden_activation: 'gelu_pytorch_tanh',
      ...raw,
    },
    source,
  );
}
