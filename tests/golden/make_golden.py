"""Regenerate tests/golden/golden.json from the Hugging Face configs in hf_configs/.

Outside reference for attncalc: every number here comes from PyTorch + Hugging Face
transformers, never from attncalc. Models are built on the meta device (no weights,
no download) with eager attention; FLOPs come from torch.utils.flop_counter.

Run with the golden venv (see README.md):
    /work/venv-golden/bin/python tests/golden/make_golden.py
"""

import json
import sys
from collections import defaultdict
from pathlib import Path

import torch
import transformers
from torch.utils.flop_counter import FlopCounterMode

HERE = Path(__file__).resolve().parent
CONFIG_DIR = HERE / "hf_configs"
OUT = HERE / "golden.json"

SHAPES = {"b1_s128": (1, 128)}
EXTRA_SHAPE = ("b2_s37", (2, 37))
EXTRA_SHAPE_MODELS = {"gpt2-small", "llama-3-8b", "bert-base", "mixtral-8x7b", "phi-2", "falcon-7b"}

# The fused Mixtral experts of transformers >= 5 route tokens with data-dependent
# nonzero()/where() in their "eager" path, which cannot run on meta tensors.  The
# "batched_mm" path gathers the top-k experts' weights per token and runs one bmm per
# (token, expert) pair: static shapes, and exactly the FLOPs of the routed experts.
MOE_EXPERTS_IMPL = "batched_mm"


def load_config(name):
    raw = json.loads((CONFIG_DIR / f"{name}.json").read_text())
    d = {k: v for k, v in raw.items() if k not in ("_source", "_note", "auto_map")}
    return transformers.AutoConfig.for_model(d.pop("model_type"), **d)


def build(name, cfg):
    if cfg.model_type == "bert":
        cls = transformers.BertModel  # bare encoder, no MLM head
    else:
        cls = getattr(transformers, cfg.architectures[0])
    kwargs = {"attn_implementation": "eager"}
    if getattr(cfg, "num_local_experts", None):
        kwargs["experts_implementation"] = MOE_EXPERTS_IMPL
    with torch.device("meta"):
        model = cls._from_config(cfg, **kwargs)
    model.eval()
    return model


def numel(module_or_params):
    params = module_or_params.parameters() if isinstance(module_or_params, torch.nn.Module) else module_or_params
    return sum(p.numel() for p in params)


def layer_list(model):
    """The decoder/encoder block list: the longest ModuleList in the model."""
    lists = [m for m in model.modules() if isinstance(m, torch.nn.ModuleList)]
    return max(lists, key=len)


def param_breakdown(model):
    total = numel(model)
    # parameters() deduplicates shared Parameters; cross-check against the raw count
    raw = sum(p.numel() for _, p in model.named_parameters(remove_duplicate=False))
    inp = model.get_input_embeddings()
    out = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    tied = out is not None and out.weight is inp.weight
    lm_head = 0 if out is None else numel(p for p in out.parameters() if p is not inp.weight)
    other_emb = sum(numel(m) for m in model.modules() if isinstance(m, torch.nn.Embedding) and m is not inp)
    layers = layer_list(model)
    layers_total = numel(layers)
    block = {name: numel(child) for name, child in layers[0].named_children() if numel(child)}
    breakdown = {
        "embed_tokens": inp.weight.numel(),
        "other_embeddings": other_emb,  # position / token-type embeddings
        "lm_head": lm_head,  # 0 when tied to embed_tokens (bias, if any, still counted)
        "tied_embeddings": tied,
        "num_layers": len(layers),
        "layer0": block,
        "layer0_total": numel(layers[0]),
        "layers_total": layers_total,
        "rest": total - inp.weight.numel() - other_emb - lm_head - layers_total,  # final norm, pooler, ...
        "shared_params_dedup": raw - total,
    }
    return total, breakdown


def params_active(model, cfg):
    """Total minus the (n_experts - top_k) unused experts of every MoE layer."""
    n_exp, top_k = getattr(cfg, "num_local_experts", None), getattr(cfg, "num_experts_per_tok", None)
    if not n_exp:
        return None
    experts = [m for m in model.modules() if type(m).__name__.endswith("Experts")]
    per_expert = 0
    for m in experts:
        for p in m.parameters(recurse=False):  # fused 3D [n_experts, ...] parameters
            assert p.shape[0] == n_exp, (type(m).__name__, p.shape)
            per_expert += p.numel() // n_exp
    assert experts and per_expert
    return numel(model) - (n_exp - top_k) * per_expert


def model_inputs(cfg, batch, seq):
    ids = torch.zeros(batch, seq, dtype=torch.long, device="meta")
    # Masks only steer control flow (no FLOPs). Decoders get an explicit all-ones mask:
    # without one, transformers probes position_ids for packed sequences with a
    # data-dependent .item(), which meta tensors cannot answer. BERT gets none, for the
    # mirror-image reason (an all-ones padding mask is checked with .all()).
    kwargs = {"input_ids": ids}
    if cfg.model_type == "bert":
        kwargs["token_type_ids"] = torch.zeros_like(ids)
    else:
        kwargs.update(attention_mask=torch.ones_like(ids), use_cache=False)
    return kwargs


def main_output(out):
    return out.logits if hasattr(out, "logits") and out.logits is not None else out.last_hidden_state


def count_flops(model, cfg, batch, seq):
    with FlopCounterMode(display=False) as fwd:
        with torch.no_grad():
            model(**model_inputs(cfg, batch, seq))
    by_op = defaultdict(int)
    for op, n in fwd.get_flop_counts()["Global"].items():
        by_op[str(op)] += int(n)
    with FlopCounterMode(display=False) as fb:
        main_output(model(**model_inputs(cfg, batch, seq))).sum().backward()
    model.zero_grad(set_to_none=True)
    return {
        "forward": int(fwd.get_total_flops()),
        "forward_backward": int(fb.get_total_flops()),
        "forward_by_op": dict(sorted(by_op.items())),
    }


def run_model(name):
    cfg = load_config(name)
    model = build(name, cfg)
    total, breakdown = param_breakdown(model)
    entry = {
        "config": f"hf_configs/{name}.json",
        "class": type(model).__name__,
        "params_total": total,
        "params_active": params_active(model, cfg),
        "params_by_name": breakdown,
        "flops": {},
    }
    shapes = dict(SHAPES)
    if name in EXTRA_SHAPE_MODELS:
        shapes[EXTRA_SHAPE[0]] = EXTRA_SHAPE[1]
    for key, (b, s) in shapes.items():
        entry["flops"][key] = count_flops(model, cfg, b, s)
    if getattr(cfg, "num_local_experts", None):
        entry["note"] = (
            f"MoE FLOPs counted with experts_implementation={MOE_EXPERTS_IMPL!r}: one bmm per (token, routed expert) "
            "pair, i.e. exactly top_k experts per token; routing decisions themselves are data dependent and "
            "irrelevant to the count. Router gate linear is included."
        )
    return entry


def main(argv):
    names = argv or sorted(p.stem for p in CONFIG_DIR.glob("*.json"))
    golden = json.loads(OUT.read_text()) if argv and OUT.exists() else {"models": {}}
    golden.update(
        generated_by="tests/golden/make_golden.py",
        torch=torch.__version__,
        transformers=transformers.__version__,
    )
    for name in names:
        print(f"{name} ...", file=sys.stderr, flush=True)
        golden["models"][name] = run_model(name)
    golden["models"] = dict(sorted(golden["models"].items()))
    OUT.write_text(json.dumps(golden, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
