"""Regenerate tests/golden/golden_wave.json from the configs in hf_configs_wave/.

Outside reference for attncalc's "2026 wave" readers (issue 20, item 3): every number here comes
from PyTorch + Hugging Face transformers on the meta device (no weights, no download), never from
attncalc. Eager attention; FLOPs from torch.utils.flop_counter.FlopCounterMode.
See README.md ("Wave set") for sources, versions and caveats, and WAVE_NOTES.md for the spec.

Run with the golden venv, optionally naming only some models (each model runs in its own
subprocess with a timeout; a model that fails or times out is recorded as a failure):
    nice /work/venv-golden/bin/python tests/golden/make_golden_wave.py [name ...]
"""

import importlib
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import torch
import transformers
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_golden import MOE_EXPERTS_IMPL, numel  # noqa: E402  (same experts path as the other sets)
from make_golden_2026 import (  # noqa: E402  (shared helpers, not copied)
    DROP_KEYS,
    ExpertsMuted,
    compact_ranges,
    count,
    experts_modules,
    layer_lists,
    main_output,
    param_breakdown,
    signature,
    wrapper_totals,
)

HERE = Path(__file__).resolve().parent
CONFIG_DIR = HERE / "hf_configs_wave"
OUT = HERE / "golden_wave.json"

SHAPES = {"b1_s128": (1, 128)}
EXTRA_SHAPE = ("b2_s37", (2, 37))
# One linear-attention hybrid, one Mamba-2 hybrid, one MoE (plus a few more that are cheap).
EXTRA_SHAPE_MODELS = {"qwen3-next-80b-a3b", "kimi-linear-48b-a3b", "lfm2-1.2b", "bamba-9b", "defaults-falcon-h1", "glm-4.5-air"}
TIMEOUT_S = 1500  # per model (subprocess); a timeout is recorded as a failure
CACHE_PREFILL = (4, 7)  # prompt lengths for the cache-shape probe (two, so per-token dims show)

# Multimodal wrappers: the numbers describe the text causal LM built from text_config; the whole
# wrapper is attempted for its totals only (gemma-3n's vision tower needs timm, see README).
WRAPPER_TYPES = {"gemma3n"}

# Keys under which the published configs give the routed top-k.
TOP_K_KEYS = ("num_experts_per_tok", "moe_k", "moe_topk", "num_experts_per_token")
MOE_COUNT_KEYS = ("num_local_experts", "num_experts", "n_routed_experts", "moe_num_experts")


# --------------------------------------------------------------------------- building


def load_raw(name):
    raw = json.loads((CONFIG_DIR / f"{name}.json").read_text())
    return {k: v for k, v in raw.items() if not k.startswith("_") and k not in DROP_KEYS}


def make_config(raw):
    d = dict(raw)
    return transformers.AutoConfig.for_model(d.pop("model_type"), **d)


def first_int(v):
    if isinstance(v, (list, tuple)):
        v = [x for x in v if x]
        return max(v) if v else 0
    return v or 0


def is_moe_config(cfg):
    return any(first_int(getattr(cfg, k, None)) for k in MOE_COUNT_KEYS)


def instantiate(cls, cfg):
    kwargs = {"attn_implementation": "eager"}
    if is_moe_config(cfg):
        kwargs["experts_implementation"] = MOE_EXPERTS_IMPL
    with torch.device("meta"):
        model = cls._from_config(cfg, **kwargs)
    model.eval()
    return model


def build(raw):
    cfg = make_config(raw)
    extra = {}
    if cfg.model_type in WRAPPER_TYPES:
        try:
            wrapper = instantiate(getattr(transformers, cfg.architectures[0]), cfg)
            extra["wrapper"] = wrapper_totals(wrapper)
            del wrapper
        except Exception as e:  # recorded, not replaced by a number
            extra["wrapper"] = {"class": cfg.architectures[0], "failed": f"{type(e).__name__}: {e}"[:500]}
        cfg = cfg.get_text_config()
        extra["built_from"] = "text_config"
    cls = transformers.AutoModelForCausalLM._model_mapping[type(cfg)]
    return cfg, instantiate(cls, cfg), extra


# --------------------------------------------------------------------------- parameters


def is_index_list(v):
    """[0, 1, 2, ...]-style lists of layer indices (e.g. lfm2 full_attn_idxs) are not per-layer labels."""
    return all(isinstance(x, int) and not isinstance(x, bool) for x in v) and all(a < b for a, b in zip(v, v[1:])) and len(v) > 2


def per_layer_labels(cfg):
    """Every per-layer list (or per-layer pattern string) in the config, by its key."""
    n = cfg.num_hidden_layers
    labels = {}
    for k, v in sorted(vars(cfg).items()):
        if k.startswith("_"):
            continue
        if (
            isinstance(v, (list, tuple))
            and len(v) == n
            and not is_index_list(v)
            and all(isinstance(x, (str, int, bool, float)) or x is None for x in v)
        ):
            if len(set(map(str, v))) > 1 or k in ("layer_types", "mlp_layer_types"):
                labels[k] = list(v)
        elif isinstance(v, str) and len(v) == n and k.endswith("pattern"):
            labels[k] = list(v)
    return labels


def persistent_buffers(module):
    """Checkpoint tensors that are not Parameters: state_dict entries minus parameter names."""
    params = {n for n, _ in module.named_parameters(remove_duplicate=False)}
    return {n: list(t.shape) for n, t in module.state_dict().items() if n not in params}


def layer_kinds(model, cfg):
    labels_by_key = per_layer_labels(cfg)
    kinds = []
    for stack, layers in layer_lists(model):
        main_stack = len(layers) == cfg.num_hidden_layers
        groups = {}
        for i, layer in enumerate(layers):
            labels = {k: v[i] for k, v in labels_by_key.items()} if main_stack else {}
            key = (signature(layer), tuple(sorted((k, str(v)) for k, v in labels.items())))
            groups.setdefault(key, ([], labels))[0].append(i)
        for (sig, _), (idx, labels) in groups.items():
            first = layers[idx[0]]
            children = {n: numel(c) for n, c in first.named_children() if numel(c)}
            direct = sum(p.numel() for p in first.parameters(recurse=False))
            if direct:
                children["(direct)"] = direct
            kinds.append(
                {
                    "stack": stack,
                    "class": sig[0],
                    "labels": labels,
                    "first_index": idx[0],
                    "count": len(idx),
                    "indices": compact_ranges(idx),
                    "total": numel(first),
                    "children": children,
                    "param_shapes": {n: list(p.shape) for n, p in first.named_parameters()},
                    "buffers": persistent_buffers(first),
                }
            )
    kinds.sort(key=lambda k: (k["stack"], k["first_index"]))
    return kinds


def non_layer_params(model):
    layer_ids = {id(p) for _, s in layer_lists(model) for p in s.parameters()}
    out = {}
    for n, p in model.named_parameters():
        if id(p) not in layer_ids:
            out[n] = list(p.shape)
    return out


def non_parameter_state(model):
    """Persistent buffers (checkpoint tensors outside parameters()), grouped over layer indices."""
    grouped = {}
    for n, shape in persistent_buffers(model).items():
        key = re.sub(r"\.\d+\.", ".*.", n)
        numel_each = 1
        for d in shape:
            numel_each *= d
        g = grouped.setdefault(key, {"count": 0, "shape": shape, "numel_each": numel_each})
        assert g["shape"] == shape, (key, g["shape"], shape)
        g["count"] += 1
    for g in grouped.values():
        g["numel"] = g["count"] * g["numel_each"]
    return dict(sorted(grouped.items()))


def config_value(cfg, keys):
    for k in keys:
        v = getattr(cfg, k, None)
        if v is not None:
            return k, v
    return None, None


def moe_facts(model, cfg):
    experts = experts_modules(model)
    if not experts:
        return None
    top_key, top_k = config_value(cfg, TOP_K_KEYS)
    per_layer = []
    for m in experts:
        params = {n: tuple(p.shape) for n, p in m.named_parameters(recurse=False)}
        rows = {n: s[0] for n, s in params.items()}
        n_exp = min(rows.values())  # LongCat: gate_up_proj also has rows for its zero experts
        per_expert_matmul = sum(
            p.numel() // p.shape[0] for p in m.parameters(recurse=False) if p.dim() == 3
        )
        per_expert = sum(p.numel() // p.shape[0] for p in m.parameters(recurse=False))
        per_layer.append((n_exp, per_expert, per_expert_matmul, tuple(sorted(params.items()))))
    kinds = sorted(set(per_layer))
    n_exp, per_expert, per_expert_matmul, shapes = kinds[0]
    uniform = len(kinds) == 1
    total_expert_params = sum(p.numel() for m in experts for p in m.parameters(recurse=False))
    top_k_int = first_int(top_k) if top_k is not None else None
    inactive = None
    if uniform and top_k_int:
        inactive = total_expert_params - top_k_int * per_expert * len(experts)
    shared = [m for n, m in model.named_modules() if re.search(r"shared_(experts?|mlp)$", n)]
    # Rows past n_exp (LongCat's gate_up_proj rows for its zero-computation experts) are allocated
    # but never read by the forward, which sends those picks through nn.Identity.
    unused_rows = sum(
        (p.shape[0] - n_exp) * (p.numel() // p.shape[0])
        for m in experts
        for p in m.parameters(recurse=False)
        if p.dim() == 3 and p.shape[0] > n_exp
    )
    extra = {}
    if getattr(cfg, "zero_expert_num", None):
        extra["params_in_unused_zero_expert_rows"] = unused_rows
        extra["note"] = (
            "top_k picks may land on zero-computation (identity) experts, so params_active and "
            "moe_check.expected_if_top_k_per_token count all top_k picks as real experts: an upper bound"
        )
    return extra | {
        "moe_layers": len(experts),
        "experts_class": type(experts[0]).__name__,
        "experts_per_layer": n_exp,
        "experts_param_shapes": {n: list(s) for n, s in shapes},
        "top_k": top_k,
        "top_k_key": top_key,
        "zero_computation_experts": getattr(cfg, "zero_expert_num", None),
        "params_per_expert": per_expert,
        "params_per_expert_matmul_weights": per_expert_matmul,
        "expert_params_total": total_expert_params,
        "shared_expert_params_per_layer": numel(shared[0]) if shared else 0,
        "params_active": None if inactive is None else numel(model) - inactive,
        "params_inactive": inactive,
        "uniform_experts": uniform,
    }


def mtp_facts(cfg, model, raw):
    keys = {k: v for k, v in sorted(raw.items()) if re.search(r"mtp|nextn", k)}
    if not keys:
        return None
    return {
        "config_keys": keys,
        "mtp_modules_instantiated": sum(1 for n, _ in model.named_modules() if re.search(r"mtp|nextn", n)),
    }


# --------------------------------------------------------------------------- running on meta


class MetaMaskWorkarounds:
    """Control-flow-only patch: create_recurrent_attention_mask() tests `torch.all(mask == 1)` (an
    .item() on meta) and, for an all-ones mask, returns None. We return that None directly, as the
    2026 set does for Jamba. Masks carry no matmul FLOPs."""

    def __init__(self, model):
        self.mod = importlib.import_module(type(model).__module__)
        self.active = hasattr(self.mod, "create_recurrent_attention_mask")

    def __enter__(self):
        if self.active:
            self.saved = self.mod.create_recurrent_attention_mask
            self.mod.create_recurrent_attention_mask = lambda **kwargs: None
        return self

    def __exit__(self, *exc):
        if self.active:
            self.mod.create_recurrent_attention_mask = self.saved


def model_inputs(batch, seq, use_cache=False):
    ids = torch.zeros(batch, seq, dtype=torch.long, device="meta")
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "use_cache": use_cache}


def err(e):
    return f"{type(e).__name__}: {e}"[:600]


def count_flops(model, cfg, batch, seq, moe):
    entry = {"batch": batch, "seq": seq}
    inputs = model_inputs(batch, seq)
    try:
        entry["forward"], entry["forward_by_op"] = count(model, inputs)
    except Exception as e:
        entry["failed"] = err(e)
    if "failed" not in entry:
        try:
            entry["forward_backward"], entry["forward_backward_by_op"] = count(model, inputs, backward=True)
        except Exception as e:
            entry["forward_backward_failed"] = err(e)
    if moe:
        check = {}
        try:
            with ExpertsMuted(model):
                check["forward_experts_muted"], check["forward_experts_muted_by_op"] = count(model, model_inputs(batch, seq))
        except Exception as e:
            check["forward_experts_muted_failed"] = err(e)
        tokens = batch * seq
        if moe["uniform_experts"] and moe["top_k"] is not None:
            k = first_int(moe["top_k"])
            p = moe["params_per_expert_matmul_weights"]
            check["expected_if_top_k_per_token"] = 2 * tokens * k * p * moe["moe_layers"]
            check["expected_if_all_experts_per_token"] = 2 * tokens * moe["experts_per_layer"] * p * moe["moe_layers"]
            if "forward" in entry and "forward_experts_muted" in check:
                routed = entry["forward"] - check["forward_experts_muted"]
                check["routed_expert_flops"] = routed
                assert routed > 0, "FlopCounterMode counted no routed-expert FLOPs"
                if routed == check["expected_if_top_k_per_token"]:
                    check["experts_computed_per_token"] = k
                elif routed == check["expected_if_all_experts_per_token"]:
                    check["experts_computed_per_token"] = moe["experts_per_layer"]
                else:
                    raise AssertionError(f"routed expert FLOPs {routed} match neither top-k nor all experts")
            if "forward_experts_muted" in check:
                check["forward_top_k_equivalent"] = check["forward_experts_muted"] + check["expected_if_top_k_per_token"]
        if moe.get("note"):
            check["note"] = moe["note"]
        entry["moe_check"] = check
    return entry


def tensor_attrs(obj):
    """Shapes of every tensor an object holds directly, in dicts keyed by state index, or in lists."""
    out = {}
    for k, v in sorted(vars(obj).items()):
        if isinstance(v, torch.Tensor):
            out[k] = list(v.shape)
        elif isinstance(v, dict):
            for i, x in v.items():
                if isinstance(x, torch.Tensor):
                    out[f"{k}[{i}]"] = list(x.shape)
        elif isinstance(v, (list, tuple)):
            for i, x in enumerate(v):
                if isinstance(x, torch.Tensor):
                    out[f"{k}[{i}]"] = list(x.shape)
    return out


def cache_layers(cache):
    layers = getattr(cache, "layers", None)
    if layers is None:
        return None
    return [(type(L).__name__, tensor_attrs(L)) for L in layers]


def cache_probe(model, cfg):
    """Build the generation cache on meta with a short prefill (use_cache=True), record each layer's
    cached tensors, then count the FLOPs of one decode step against that cache."""
    out = {"prefill_lengths": list(CACHE_PREFILL)}
    per_len = {}
    cache = None
    for seq in CACHE_PREFILL:
        with torch.no_grad():
            res = model(**model_inputs(1, seq, use_cache=True))
        cache = res.past_key_values
        per_len[seq] = cache_layers(cache)
    out["cache_class"] = type(cache).__name__
    if per_len[CACHE_PREFILL[0]] is None:
        out["failed"] = f"{type(cache).__name__} has no .layers"
        return out
    a, b = (per_len[s] for s in CACHE_PREFILL)
    groups = {}
    for i, ((cls, sa), (_, sb)) in enumerate(zip(a, b)):
        key = (cls, json.dumps(sa, sort_keys=True), json.dumps(sb, sort_keys=True))
        groups.setdefault(key, []).append(i)
    kinds = []
    for (cls, sa, sb), idx in groups.items():
        sa, sb = json.loads(sa), json.loads(sb)
        kinds.append(
            {
                "cache_layer_class": cls,
                "first_index": idx[0],
                "count": len(idx),
                "indices": compact_ranges(idx),
                f"tensors_after_prefill_{CACHE_PREFILL[0]}": sa,
                f"tensors_after_prefill_{CACHE_PREFILL[1]}": sb,
                "per_token_tensors": sorted(k for k in sa if sa[k] != sb.get(k)),
            }
        )
    kinds.sort(key=lambda k: k["first_index"])
    out["layers"] = len(a)
    out["kinds"] = kinds
    # one decode step (batch 1) against the cache of the last prefill
    seq = CACHE_PREFILL[-1]
    ids = torch.zeros(1, 1, dtype=torch.long, device="meta")
    mask = torch.ones(1, seq + 1, dtype=torch.long, device="meta")
    try:
        with FlopCounterMode(display=False) as fc, torch.no_grad():
            model(input_ids=ids, attention_mask=mask, past_key_values=cache, use_cache=True)
        by_op = {str(k): int(v) for k, v in fc.get_flop_counts()["Global"].items()}
        out["decode_step"] = {"cached_tokens": seq, "forward": int(fc.get_total_flops()), "forward_by_op": dict(sorted(by_op.items()))}
    except Exception as e:
        out["decode_step"] = {"cached_tokens": seq, "failed": err(e)}
    return out


# --------------------------------------------------------------------------- driver


def run_model(name):
    raw = load_raw(name)
    cfg, model, extra = build(raw)
    total, breakdown = param_breakdown(model, cfg)
    moe = moe_facts(model, cfg)
    entry = {
        "config": f"hf_configs_wave/{name}.json",
        "model_type": cfg.model_type,
        "class": type(model).__name__,
        "params_total": total,
        "params_active": moe["params_active"] if moe else None,
        "params_by_name": breakdown,
        "non_layer_params": non_layer_params(model),
        "non_parameter_state": non_parameter_state(model),
        "per_layer_config_lists": per_layer_labels(cfg),
        "layer_kinds": layer_kinds(model, cfg),
        "moe": moe,
        "mtp": mtp_facts(cfg, model, raw),
        "flops": {},
        **extra,
    }
    shapes = dict(SHAPES)
    if name in EXTRA_SHAPE_MODELS:
        shapes[EXTRA_SHAPE[0]] = EXTRA_SHAPE[1]
    with MetaMaskWorkarounds(model) as mw:
        entry["meta_workarounds"] = ["create_recurrent_attention_mask -> None (all-ones mask)"] if mw.active else []
        for key, (b, s) in shapes.items():
            entry["flops"][key] = count_flops(model, cfg, b, s, moe)
        try:
            entry["cache"] = cache_probe(model, cfg)
        except Exception as e:
            entry["cache"] = {"failed": err(e)}
    return entry


def run_one_subprocess(name):
    """Run one model in a child process (bounded time and memory); return (entry, failure)."""
    try:
        proc = subprocess.run(
            [sys.executable, __file__, "--one", name],
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        return None, f"timed out after {TIMEOUT_S}s"
    if proc.returncode != 0:
        lines = (proc.stderr or "").strip().splitlines()
        marked = [l[len("GOLDEN_FAILURE: "):] for l in lines if l.startswith("GOLDEN_FAILURE: ")]
        return None, (marked[-1] if marked else " | ".join(lines[-3:])[:800]) or f"exit {proc.returncode}"
    return json.loads(proc.stdout), None


def main(argv):
    if argv[:1] == ["--one"]:
        try:
            entry = run_model(argv[1])
        except Exception as e:  # recorded by the parent as a failure, never as a number
            print(f"GOLDEN_FAILURE: {err(e)}".replace("\n", " "), file=sys.stderr)
            sys.exit(1)
        sys.stdout.write(json.dumps(entry))
        return
    names = argv or sorted(p.stem for p in CONFIG_DIR.glob("*.json"))
    golden = json.loads(OUT.read_text()) if argv and OUT.exists() else {"models": {}, "failures": {}}
    golden.setdefault("failures", {})
    golden.update(
        generated_by="tests/golden/make_golden_wave.py",
        torch=torch.__version__,
        transformers=transformers.__version__,
        experts_implementation=MOE_EXPERTS_IMPL,
    )
    for name in names:
        t0 = time.time()
        print(f"{name} ...", file=sys.stderr, flush=True)
        entry, failure = run_one_subprocess(name)
        if failure:
            golden["failures"][name] = failure
            golden["models"].pop(name, None)
            print(f"  FAILED {failure[:300]}", file=sys.stderr, flush=True)
        else:
            golden["failures"].pop(name, None)
            golden["models"][name] = entry
        print(f"  {time.time() - t0:.1f}s", file=sys.stderr, flush=True)
    golden["models"] = dict(sorted(golden["models"].items()))
    golden["failures"] = dict(sorted(golden["failures"].items()))
    OUT.write_text(json.dumps(golden, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
