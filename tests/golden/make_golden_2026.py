"""Regenerate tests/golden/golden_2026.json from the configs in hf_configs_2026/.

Outside reference for attncalc's 2026 architectures: every number here comes from PyTorch +
Hugging Face transformers, never from attncalc. Models are built on the meta device (no
weights, no download) with eager attention; FLOPs come from torch.utils.flop_counter.
See README.md ("2026 set") for sources, versions and caveats.

Run with the golden venv (see README.md), optionally naming only some models:
    nice /work/venv-golden/bin/python tests/golden/make_golden_2026.py [name ...]
"""

import json
import math
import re
import sys
import time
from collections import defaultdict
from pathlib import Path

import torch
import transformers
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_golden import MOE_EXPERTS_IMPL, numel  # noqa: E402  (same experts path as the 2024 set)

HERE = Path(__file__).resolve().parent
CONFIG_DIR = HERE / "hf_configs_2026"
OUT = HERE / "golden_2026.json"

SHAPES = {"b1_s128": (1, 128)}
EXTRA_SHAPE = ("b2_s37", (2, 37))
EXTRA_SHAPE_MODELS = {"deepseek-v2-lite", "qwen3-30b-a3b", "gemma-3-1b", "gpt-oss-20b", "t5-base", "jamba-v0.1"}

# Keys of a published config.json that are not architecture. quantization_config is dropped so
# that transformers builds the plain bf16/fp32 module tree (FP8 / MXFP4 storage is not what we
# count); auto_map points at remote code we do not run.
DROP_KEYS = ("auto_map", "quantization_config")

# Published model_type values that transformers 5.24 does not register, and the registered
# config class their `architectures` entry (DeepseekV3ForCausalLM) is built from.
MODEL_TYPE_ALIASES = {"kimi_k2": "deepseek_v3"}

# Multimodal wrappers: attncalc counts the language model, so the text_config is built as its
# causal LM; the whole wrapper (vision tower + projector) is built too, for its totals only.
WRAPPER_TYPES = {"gemma3", "llama4", "mistral3"}

# Encoders are counted bare, as bert-base is in the 2024 set (pooler included, no MLM head).
BARE_ENCODER = {"roberta": "RobertaModel"}


# --------------------------------------------------------------------------- building


def load_raw(name):
    raw = json.loads((CONFIG_DIR / f"{name}.json").read_text())
    return {k: v for k, v in raw.items() if not k.startswith("_") and k not in DROP_KEYS}


def make_config(raw):
    d = dict(raw)
    model_type = d.pop("model_type")
    model_type = MODEL_TYPE_ALIASES.get(model_type, model_type)
    return transformers.AutoConfig.for_model(model_type, **d)


def is_moe_config(cfg):
    return any(getattr(cfg, k, None) for k in ("num_local_experts", "num_experts", "n_routed_experts"))


def instantiate(cls, cfg):
    kwargs = {"attn_implementation": "eager"}
    if is_moe_config(cfg):
        kwargs["experts_implementation"] = MOE_EXPERTS_IMPL
    with torch.device("meta"):
        model = cls._from_config(cfg, **kwargs)
    model.eval()
    return model


def text_lm_class(text_cfg):
    return transformers.AutoModelForCausalLM._model_mapping[type(text_cfg)]


def build(name, raw):
    """The model whose numbers are recorded, plus extra facts about wrappers / bare encoders."""
    cfg = make_config(raw)
    extra = {}
    if cfg.model_type in WRAPPER_TYPES:
        wrapper = instantiate(getattr(transformers, cfg.architectures[0]), cfg)
        extra["wrapper"] = wrapper_totals(wrapper)
        del wrapper
        cfg = cfg.get_text_config()
        cls = text_lm_class(cfg)
        extra["built_from"] = "text_config"
    elif cfg.model_type in BARE_ENCODER:
        full = instantiate(getattr(transformers, cfg.architectures[0]), cfg)
        extra["mlm_head"] = {
            "class": type(full).__name__,
            "params_total": numel(full),
            "head_params_untied": numel(full) - numel(full.base_model),
        }
        del full
        cls = getattr(transformers, BARE_ENCODER[cfg.model_type])
    else:
        cls = getattr(transformers, cfg.architectures[0])
    return cfg, instantiate(cls, cfg), extra


def wrapper_totals(wrapper):
    parts = {}
    for n, child in wrapper.named_children():
        for n2, c2 in child.named_children():
            parts[f"{n}.{n2}"] = numel(c2)
        if not list(child.named_children()):
            parts[n] = numel(child)
    out = wrapper.get_output_embeddings()
    return {
        "class": type(wrapper).__name__,
        "params_total": numel(wrapper),
        "parts": parts,  # lm_head listed even when tied; params_total counts it once
        "tied_lm_head": out is not None and out.weight is wrapper.get_input_embeddings().weight,
    }


# --------------------------------------------------------------------------- parameters


def layer_lists(model):
    """(name, ModuleList) of the block stacks: ModuleLists not nested inside another one."""
    lists = [(n, m) for n, m in model.named_modules() if isinstance(m, torch.nn.ModuleList) and len(m)]
    out = []
    for n, m in lists:
        if not any(n.startswith(o + ".") for o, _ in lists if o != n):
            out.append((n, m))
    return out


def layer_label(cfg, stack, i, layer):
    """Attention flavour of a block, for kinds that differ in behaviour but not in parameters."""
    labels = {}
    layer_types = getattr(cfg, "layer_types", None)
    if layer_types and len(layer_types) > i and not stack.startswith("encoder") and "decoder.block" not in stack:
        labels["layer_type"] = layer_types[i]
    nope = getattr(cfg, "no_rope_layers", None)
    if nope and len(nope) > i:
        labels["rope"] = bool(nope[i])  # llama4: 0 = NoPE layer (full causal), 1 = RoPE (chunked)
    return labels


def signature(layer):
    return (type(layer).__name__, tuple((n, tuple(p.shape)) for n, p in layer.named_parameters()))


def compact_ranges(idx):
    out, start, prev = [], idx[0], idx[0]
    for i in idx[1:] + [None]:
        if i is not None and i == prev + 1:
            prev = i
            continue
        out.append([start, prev] if start != prev else [start])
        if i is not None:
            start = prev = i
    return out


def layer_kinds(model, cfg):
    kinds = []
    for stack, layers in layer_lists(model):
        groups = {}
        for i, layer in enumerate(layers):
            labels = layer_label(cfg, stack, i, layer)
            key = (signature(layer), tuple(sorted(labels.items())))
            groups.setdefault(key, []).append(i)
        for (sig, labels), idx in groups.items():
            first = layers[idx[0]]
            children = {n: numel(c) for n, c in first.named_children() if numel(c)}
            grandchildren = {
                f"{n}.{n2}": numel(c2)
                for n, c in first.named_children()
                for n2, c2 in c.named_children()
                if numel(c2)
            }
            direct = sum(p.numel() for p in first.parameters(recurse=False))
            if direct:
                children["(direct)"] = direct
            kinds.append(
                {
                    "stack": stack,
                    "class": sig[0],
                    "labels": dict(labels),
                    "first_index": idx[0],
                    "count": len(idx),
                    "indices": compact_ranges(idx),
                    "total": numel(first),
                    "children": children,
                    "grandchildren": grandchildren,
                    "param_shapes": {n: list(p.shape) for n, p in first.named_parameters()},
                    "buffers": {
                        n: list(b.shape)
                        for n, b in first.named_buffers()
                        if "correction_bias" in n  # router state stored in checkpoints, not a Parameter
                    },
                }
            )
    kinds.sort(key=lambda k: (k["stack"], k["first_index"]))
    return kinds


def param_breakdown(model, cfg):
    total = numel(model)
    raw = sum(p.numel() for _, p in model.named_parameters(remove_duplicate=False))
    inp = model.get_input_embeddings()
    out = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    tied = out is not None and out.weight is inp.weight
    lm_head = 0 if out is None else numel(p for p in out.parameters() if p is not inp.weight)
    stacks = layer_lists(model)
    layers_total = sum(numel(m) for _, m in stacks)
    layer_param_ids = {id(p) for _, s in stacks for p in s.parameters()}
    # position / token-type embeddings: unique Embedding parameters other than the token table
    # (T5's encoder/decoder embed_tokens share it) and outside the blocks (T5's
    # relative_attention_bias lives in block 0 and is counted there).
    other_emb_params = {
        id(p): p
        for m in model.modules()
        if isinstance(m, torch.nn.Embedding)
        for p in m.parameters()
        if p is not inp.weight and id(p) not in layer_param_ids
    }
    other_emb = sum(p.numel() for p in other_emb_params.values())
    rest = total - inp.weight.numel() - other_emb - lm_head - layers_total
    rest_parts = {}
    out_ids = {id(p) for p in out.parameters()} if out is not None else set()
    for n, p in model.named_parameters():
        if id(p) in layer_param_ids or p is inp.weight or id(p) in out_ids or id(p) in other_emb_params:
            continue
        rest_parts[n] = p.numel()
    assert sum(rest_parts.values()) == rest, (rest_parts, rest)
    buffers = {}
    for n, b in model.named_buffers():
        if "correction_bias" in n:
            key = re.sub(r"\.\d+\.", ".*.", n)
            buffers.setdefault(key, {"count": 0, "numel": 0})
            buffers[key]["count"] += 1
            buffers[key]["numel"] += b.numel()
    return total, {
        "embed_tokens": inp.weight.numel(),
        "other_embeddings": other_emb,
        "lm_head": lm_head,  # 0 when tied to embed_tokens (bias, if any, still counted)
        "tied_embeddings": tied,
        "stacks": {n: {"num_layers": len(s), "total": numel(s)} for n, s in stacks},
        "layers_total": layers_total,
        "rest": rest,  # final norm(s), pooler, ...
        "rest_parts": rest_parts,
        "shared_params_dedup": raw - total,
        "non_parameter_state": buffers,  # e.g. DeepSeek-V3 e_score_correction_bias (a Buffer)
    }


def experts_modules(model):
    """Fused routed-expert modules: 3-D [n_experts, ...] Parameters (one module per MoE layer)."""
    return [m for m in model.modules() if type(m).__name__.endswith("Experts") and list(m.parameters(recurse=False))]


def moe_facts(model, cfg):
    experts = experts_modules(model)
    if not experts:
        return None
    top_k = cfg.num_experts_per_tok
    per_layer = []
    for m in experts:
        params = list(m.parameters(recurse=False))
        n_exp = params[0].shape[0]
        assert all(p.shape[0] == n_exp for p in params), [tuple(p.shape) for p in params]
        per_expert = sum(p.numel() for p in params) // n_exp
        per_expert_matmul = sum(p.numel() for p in params if p.dim() == 3) // n_exp  # weights, no biases
        per_layer.append((n_exp, per_expert, per_expert_matmul))
    assert len(set(per_layer)) == 1, set(per_layer)
    n_exp, per_expert, per_expert_matmul = per_layer[0]
    if top_k is None:  # defaults-deepseek-v2: DeepseekV2Config leaves num_experts_per_tok unset
        inactive = None
    else:
        inactive = (n_exp - top_k) * per_expert * len(experts)
    shared = [m for n, m in model.named_modules() if re.search(r"shared_experts?$", n)]
    return {
        "moe_layers": len(experts),
        "experts_per_layer": n_exp,
        "top_k": top_k,
        "params_per_expert": per_expert,
        "params_per_expert_matmul_weights": per_expert_matmul,
        "shared_expert_params_per_layer": numel(shared[0]) if shared else 0,
        "params_active": None if inactive is None else numel(model) - inactive,
        "params_inactive": inactive,
    }


# --------------------------------------------------------------------------- FLOPs


def model_inputs(model, cfg, batch, seq):
    ids = torch.zeros(batch, seq, dtype=torch.long, device="meta")
    ones = torch.ones_like(ids)
    if cfg.model_type in ("roberta",):
        # bare encoder, like bert-base in the 2024 set: no mask (an all-ones padding mask is
        # probed with .all(), which meta tensors cannot answer)
        return {"input_ids": ids, "token_type_ids": torch.zeros_like(ids)}
    if cfg.is_encoder_decoder:
        # encoder: no mask (same .all() probe as above); decoder: explicit all-ones mask
        return {"input_ids": ids, "decoder_input_ids": ids, "decoder_attention_mask": ones, "use_cache": False}
    kwargs = {"input_ids": ids, "attention_mask": ones, "use_cache": False}
    if getattr(cfg, "add_cross_attention", False):
        kwargs["encoder_hidden_states"] = torch.zeros(batch, seq, cfg.hidden_size, device="meta")
    return kwargs


def main_output(out):
    return out.logits if getattr(out, "logits", None) is not None else out.last_hidden_state


def count(model, inputs, backward=False):
    with FlopCounterMode(display=False) as fc:
        if backward:
            main_output(model(**inputs)).sum().backward()
        else:
            with torch.no_grad():
                model(**inputs)
    if backward:
        model.zero_grad(set_to_none=True)
    by_op = defaultdict(int)
    for op, n in fc.get_flop_counts()["Global"].items():
        by_op[str(op)] += int(n)
    return int(fc.get_total_flops()), dict(sorted(by_op.items()))


class ExpertsMuted:
    """Swap every routed-experts module's forward for one returning zeros of the right shape."""

    def __init__(self, model):
        self.mods = experts_modules(model)

    def __enter__(self):
        for m in self.mods:
            m._golden_saved_forward = m.forward
            m.forward = lambda hidden_states, *a, **k: torch.zeros_like(hidden_states)
        return self

    def __exit__(self, *exc):
        for m in self.mods:
            m.forward = m._golden_saved_forward
            del m._golden_saved_forward


class MetaMaskWorkarounds:
    """Control-flow-only patches needed to run on meta tensors (masks carry no matmul FLOPs).

    Jamba: create_recurrent_attention_mask() tests `torch.all(mask == 1)` (a .item() on meta) and,
    for an all-ones 2-D mask, returns None. We return that None directly. (Passing no mask instead
    trips the mirror-image .item() probe in create_causal_mask.)
    """

    def __init__(self, cfg):
        self.patches = []
        if cfg.model_type == "jamba":
            import transformers.models.jamba.modeling_jamba as mj

            self.patches.append((mj, "create_recurrent_attention_mask", lambda **kwargs: None))

    def __enter__(self):
        self.saved = [(mod, attr, getattr(mod, attr)) for mod, attr, _ in self.patches]
        for mod, attr, fn in self.patches:
            setattr(mod, attr, fn)

    def __exit__(self, *exc):
        for mod, attr, fn in self.saved:
            setattr(mod, attr, fn)


def count_flops(model, cfg, batch, seq, moe):
    with MetaMaskWorkarounds(cfg):
        return _count_flops(model, cfg, batch, seq, moe)


def _count_flops(model, cfg, batch, seq, moe):
    inputs = model_inputs(model, cfg, batch, seq)
    fwd, by_op = count(model, inputs)
    fb, _ = count(model, inputs, backward=True)
    entry = {"batch": batch, "seq": seq, "forward": fwd, "forward_backward": fb, "forward_by_op": by_op}
    if cfg.is_encoder_decoder:
        entry["encoder_seq"] = entry["decoder_seq"] = seq
    if "encoder_hidden_states" in inputs:
        entry["encoder_hidden_states_seq"] = seq
    if moe:
        with ExpertsMuted(model):
            muted, _ = count(model, model_inputs(model, cfg, batch, seq))
        expert_flops = fwd - muted
        tokens = batch * seq
        # What the routed experts must cost if exactly k experts run per token: one
        # 2*in*out matmul per expert weight, per (token, routed expert) pair, in every MoE layer.
        expected_topk = 2 * tokens * moe["top_k"] * moe["params_per_expert_matmul_weights"] * moe["moe_layers"]
        expected_dense = 2 * tokens * moe["experts_per_layer"] * moe["params_per_expert_matmul_weights"] * moe["moe_layers"]
        assert expert_flops > 0, "FlopCounterMode counted no routed-expert FLOPs"
        if expert_flops == expected_topk:
            experts_run = moe["top_k"]
        elif expert_flops == expected_dense:
            experts_run = moe["experts_per_layer"]  # llama4: every expert runs on every token
        else:
            raise AssertionError(f"expert FLOPs {expert_flops} match neither top-k {expected_topk} nor all-experts {expected_dense}")
        entry["moe_check"] = {
            "forward_experts_muted": muted,
            "routed_expert_flops": expert_flops,
            "expected_if_top_k_per_token": expected_topk,
            "experts_computed_per_token": experts_run,
            "forward_top_k_equivalent": muted + expected_topk,
        }
    return entry


# --------------------------------------------------------------------------- driver


def run_model(name):
    raw = load_raw(name)
    cfg, model, extra = build(name, raw)
    total, breakdown = param_breakdown(model, cfg)
    moe = moe_facts(model, cfg)
    entry = {
        "config": f"hf_configs_2026/{name}.json",
        "class": type(model).__name__,
        "params_total": total,
        "params_active": moe["params_active"] if moe else None,
        "params_by_name": breakdown,
        "layer_kinds": layer_kinds(model, cfg),
        "moe": moe,
        # DeepSeek multi-token prediction: transformers never instantiates the MTP module, so it is
        # in none of the counts; the config value is recorded for reference.
        "mtp": {
            "num_nextn_predict_layers_in_config": getattr(cfg, "num_nextn_predict_layers", None),
            "in_published_config": "num_nextn_predict_layers" in raw,
            "mtp_modules_instantiated": sum(1 for n, _ in model.named_modules() if re.search(r"mtp|nextn", n)),
        }
        if hasattr(cfg, "num_nextn_predict_layers")
        else None,
        "flops": {},
        **extra,
    }
    shapes = dict(SHAPES)
    if name in EXTRA_SHAPE_MODELS:
        shapes[EXTRA_SHAPE[0]] = EXTRA_SHAPE[1]
    for key, (b, s) in shapes.items():
        try:
            entry["flops"][key] = count_flops(model, cfg, b, s, moe)
        except Exception as e:  # recorded, never replaced by a made-up number
            entry["flops"][key] = {"failed": f"{type(e).__name__}: {e}"}
            print(f"  FLOPs {key} FAILED: {entry['flops'][key]['failed'][:300]}", file=sys.stderr, flush=True)
    return entry


def main(argv):
    names = argv or sorted(p.stem for p in CONFIG_DIR.glob("*.json"))
    golden = json.loads(OUT.read_text()) if argv and OUT.exists() else {"models": {}}
    golden.update(
        generated_by="tests/golden/make_golden_2026.py",
        torch=torch.__version__,
        transformers=transformers.__version__,
        experts_implementation=MOE_EXPERTS_IMPL,
    )
    failures = {}
    for name in names:
        t0 = time.time()
        print(f"{name} ...", file=sys.stderr, flush=True)
        try:
            golden["models"][name] = run_model(name)
        except Exception as e:  # record, never fake a number
            failures[name] = f"{type(e).__name__}: {e}"
            print(f"  FAILED {failures[name][:300]}", file=sys.stderr, flush=True)
        print(f"  {time.time() - t0:.1f}s", file=sys.stderr, flush=True)
    golden["models"] = dict(sorted(golden["models"].items()))
    OUT.write_text(json.dumps(golden, indent=1, sort_keys=True) + "\n")
    if failures:
        print(json.dumps(failures, indent=1), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main(sys.argv[1:])
