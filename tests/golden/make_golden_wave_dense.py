"""Regenerate tests/golden/golden_wave_dense.json: small made-up configs of the wave's dense and MoE
types (issue 20) that exercise the keys the published configs leave at one value (biases on, q/k
norms on, ERNIE's MoE layer range and interval, explicit NoPE lists, sliding windows on or off,
Cohere 2's head_dim, Hunyuan's per-layer top-k ...), built by transformers on the meta device.

Outside reference, as golden_wave.json: every number comes from PyTorch + transformers 5.24
(`sum(p.numel())` and FlopCounterMode, eager attention, MoE experts as `batched_mm`), never from
attncalc. A config transformers cannot build or run is recorded with its error, which is the
golden for "attncalc refuses it". The output is deterministic.

    nice /work/venv-golden/bin/python tests/golden/make_golden_wave_dense.py
"""

import json
import sys
import warnings
from pathlib import Path

import torch
import transformers
from transformers import AutoConfig, AutoModelForCausalLM

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_golden import MOE_EXPERTS_IMPL  # noqa: E402
from make_golden_2026 import count  # noqa: E402

OUT = Path(__file__).resolve().parent / "golden_wave_dense.json"
BATCH, SEQ = 1, 16
# The small shape every variant starts from (each type reads the keys it knows; others are ignored).
SMALL = {"hidden_size": 64, "num_hidden_layers": 9, "num_attention_heads": 4, "num_key_value_heads": 2,
         "intermediate_size": 96, "moe_intermediate_size": 32, "vocab_size": 300, "pad_token_id": 0}
EXPERTS = {"minimax_m2": {"num_local_experts": 8, "num_experts_per_tok": 2},
           "phimoe": {"num_local_experts": 8, "num_experts_per_tok": 2},
           "glm4_moe": {"n_routed_experts": 8, "num_experts_per_tok": 2},
           "dots1": {"n_routed_experts": 8, "num_experts_per_tok": 2},
           "ernie4_5_moe": {"moe_num_experts": 8, "moe_k": 2},
           "hunyuan_v1_moe": {"num_experts": 8, "moe_topk": 2}}
VARIANTS = {
    "cohere-qk-norm-bias": {"model_type": "cohere", "use_qk_norm": True, "attention_bias": True},
    "ernie4_5-bias-untied": {"model_type": "ernie4_5", "use_bias": True, "tie_word_embeddings": False},
    "ernie4_5-bias-tied": {"model_type": "ernie4_5", "use_bias": True},
    "ernie4_5_moe-range-interval-2": {"model_type": "ernie4_5_moe", "moe_layer_start_index": 2,
                                      "moe_layer_end_index": 6, "moe_layer_interval": 2, "moe_num_shared_experts": 0},
    "ernie4_5_moe-interval-3": {"model_type": "ernie4_5_moe", "moe_layer_start_index": 0, "moe_layer_end_index": 8,
                                "moe_layer_interval": 3},
    "smollm3-no-rope-list": {"model_type": "smollm3", "no_rope_layers": [1, 1, 0, 1, 1, 0, 1, 1, 0]},
    "smollm3-interval-1": {"model_type": "smollm3", "no_rope_layer_interval": 1},
    "exaone4-no-window-full": {"model_type": "exaone4", "sliding_window": None, "layer_types": ["full_attention"] * 9},
    "exaone4-no-window-sliding": {"model_type": "exaone4", "sliding_window": None,
                                  "layer_types": ["sliding_attention", "sliding_attention", "full_attention"] * 3},
    "exaone4-pattern-3": {"model_type": "exaone4", "sliding_window_pattern": 3},
    "glm4_moe-qk-norm-no-shared": {"model_type": "glm4_moe", "use_qk_norm": True, "n_shared_experts": 0,
                                   "first_k_dense_replace": 0, "attention_bias": True, "head_dim": 16},
    "glm4_moe-3-shared-2-dense": {"model_type": "glm4_moe", "n_shared_experts": 3, "first_k_dense_replace": 2},
    "glm4-no-bias-head-dim-8": {"model_type": "glm4", "attention_bias": False, "head_dim": 8},
    "dots1-all-sliding": {"model_type": "dots1", "n_shared_experts": 1, "max_window_layers": 0, "attention_bias": True},
    "dots1-window-unused": {"model_type": "dots1", "n_shared_experts": 2, "max_window_layers": 9, "sliding_window": 32},
    "dots1-tail-sliding": {"model_type": "dots1", "n_shared_experts": 1, "max_window_layers": 4},
    "phimoe-window-biases": {"model_type": "phimoe", "sliding_window": 64, "attention_bias": True, "lm_head_bias": True},
    "seed_oss-out-and-mlp-bias": {"model_type": "seed_oss", "attention_out_bias": True, "mlp_bias": True},
    "granite-biases": {"model_type": "granite", "attention_bias": True, "mlp_bias": True},
    "hunyuan_v1_moe-topk-list": {"model_type": "hunyuan_v1_moe", "head_dim": 16, "moe_topk": [2] * 9,
                                 "attention_bias": True},
    "hunyuan_v1_dense-head-dim-24": {"model_type": "hunyuan_v1_dense", "head_dim": 24},
    "cohere2-head-dim-98": {"model_type": "cohere2", "sliding_window_pattern": 3, "head_dim": 98},
    "cohere2-no-window": {"model_type": "cohere2", "sliding_window": None},
    "olmo3-no-window": {"model_type": "olmo3", "sliding_window": None},
    "olmo3-all-full": {"model_type": "olmo3", "layer_types": ["full_attention"] * 9},
    "minimax_m2-head-dim-16": {"model_type": "minimax_m2", "head_dim": 16},
    "apertus-bias": {"model_type": "apertus", "attention_bias": True},
    "arcee-biases": {"model_type": "arcee", "mlp_bias": True, "attention_bias": True},
}


def build(cfg):
    mt = cfg["model_type"]
    rest = {k: v for k, v in cfg.items() if k != "model_type"}
    kwargs = {"attn_implementation": "eager"}
    if mt in EXPERTS:
        kwargs["experts_implementation"] = MOE_EXPERTS_IMPL
    config = AutoConfig.for_model(mt, **rest)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config, **kwargs)
    return model.eval()


def one(name, variant):
    cfg = {**SMALL, **EXPERTS.get(variant["model_type"], {}), **variant}
    entry = {"config": cfg}
    try:
        model = build(cfg)
        entry["class"] = type(model).__name__
        entry["params_total"] = sum(p.numel() for p in model.parameters())
        ids = torch.zeros(BATCH, SEQ, dtype=torch.long, device="meta")
        inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "use_cache": False}
        fwd, _ = count(model, inputs)
        fb, _ = count(model, inputs, backward=True)
        entry["flops"] = {f"b{BATCH}_s{SEQ}": {"batch": BATCH, "seq": SEQ, "forward": fwd, "forward_backward": fb}}
    except Exception as err:  # the golden for "attncalc refuses it"
        entry["failed"] = f"{type(err).__name__}: {str(err).splitlines()[0][:200]}"
    return entry


def main():
    warnings.filterwarnings("ignore")
    transformers.logging.set_verbosity_error()
    out = {"generated_by": "tests/golden/make_golden_wave_dense.py", "torch": torch.__version__.split("+")[0],
           "transformers": transformers.__version__, "experts_implementation": MOE_EXPERTS_IMPL,
           "variants": {name: one(name, v) for name, v in VARIANTS.items()}}
    OUT.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
    print(f"{OUT.name}: {len(out['variants'])} variants,",
          sum("failed" in v for v in out["variants"].values()), "failed to build or run")


if __name__ == "__main__":
    main()
