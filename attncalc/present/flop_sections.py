"""FLOP and memory sections of the `count` report (plain rows; render.py draws them)."""

from __future__ import annotations

from fractions import Fraction

from ..core.memory.cache import Memory, cache_kinds
from ..dtypes import dtype_bytes
from ..core.report import Flops
from ..spec.arch import Architecture
from .sections import WORDS, Row, Section, x

PF_DAY = 10**15 * 86400  # a petaflop/s-day, GPT-3 Table D.1's unit
CORE = {"scores": "scores (q·k)", "weighted_values": "weighted sum of values", "softmax": "softmax"}


def fsec(title: str, rows, note: str = "", unit: str = "flops") -> Section:
    return Section(title, tuple(rows), note, unit)


def decode_note(a: Architecture) -> str:
    if a.sliding_window:
        return (f"decode grows with the context up to the window of {a.sliding_window:,} tokens, then stays flat: "
                "the window caps the keys each new token attends to")
    return "decode grows linearly with the context"


def flop_sections(a: Architecture, f: Flops, mem: Memory) -> list[Section]:
    w, fwd, dec = f.workload, f.forward, f.decode
    tokens = w.batch * w.seq
    mac = f.convention["unit"] == "mac"
    unit, u = ("MAC", "macs") if mac else ("FLOP", "flops")
    how = fwd.attention.per_head_formulas
    head = [Row(WORDS.get(k, CORE.get(k, k)), how[k], v) for k, v in fwd.attention.per_head_parts.items()]
    shared = "" if a.group_size == 1 else f" (key, value-down shared by {a.group_size} heads)"
    head.append(Row("one head", "projections + attention core" + shared, fwd.attention.per_head, strong=True))
    n = sum(k.count for k in fwd.kinds)
    one = len(fwd.kinds) == 1  # several block kinds: see the block kinds section
    fwd_rows = [
        Row("attention, one block", "", fwd.attention.per_block),
        Row("MLP, one block", f"top {a.top_k} of {a.n_experts} experts + router" if a.is_moe else "", fwd.mlp.per_block),
        Row("one block" if one else f"one {max(fwd.kinds, key=lambda k: k.count).name} block",
            "attention + MLP" + (" + norms, adds" if fwd.elementwise else "") if one else "its mixer + MLP",
            fwd.per_block, strong=True),
        Row(f"{n} blocks", f"{n} × {fwd.per_block:,}" if one else "by block kind", fwd.blocks, fwd.blocks / fwd.total),
        Row("  of which attention", "", fwd.attention.total, float(fwd.attention.share)),
    ]
    if fwd.unembedding:
        fwd_rows.append(Row("logits (unembedding)", x(tokens, a.vocab_size, a.d_model) if mac else x(2, tokens, a.vocab_size, a.d_model),
                            fwd.unembedding, fwd.unembedding / fwd.total))
    for key in ("embedding", "pooler"):
        if getattr(fwd, key):
            fwd_rows.append(Row(key, "", getattr(fwd, key), getattr(fwd, key) / fwd.total))
    fwd_rows.append(Row("forward total", f"batch {w.batch} × seq {w.seq:,}", fwd.total, 1.0, strong=True))
    fwd_rows.append(Row("  per token", "total / tokens", fwd.total // tokens))
    dec_rows = [Row("one head", "projections of one token + attention over the cache", dec.attention.per_head),
                Row("one block", "", dec.per_block),
                Row("decode step total", f"batch {w.batch}, {dec.context:,} cached tokens", dec.total, strong=True)]
    sections = [
        fsec(f"{unit}s of one attention head, forward (batch {w.batch}, seq {w.seq:,})", tuple(head), unit=u),
        fsec(f"{unit}s forward", tuple(fwd_rows), unit=u),
    ]
    if a.causal:  # an encoder has no decode step (nor KV cache)
        sections.append(fsec(f"{unit}s of one decode step", tuple(dec_rows), decode_note(a), unit=u))
    if f.training is not None:
        t = f.training
        rows = [Row("forward", f"{t.tokens:,} tokens in sequences of {t.seq:,}", t.forward),
                Row("backward", "2 × forward", t.backward)]
        if t.recompute:
            rows.append(Row("recomputation", "1 × forward", t.recompute))
        pf_days = (2 * t.total if mac else t.total) / PF_DAY
        rows.append(Row("training total", f"= {pf_days:,.1f} PF-days" + (" (as FLOPs: 2 per MAC)" if mac else ""),
                        t.total, strong=True))
        sections.append(fsec(f"{unit}s of training", tuple(rows), unit=u))
    sections.append(estimates_section(f, mac))
    sections.append(fsec(f"attention's share of forward {unit}s as the sequence grows",
                         tuple(Row(f"seq {r.seq:,}", "", r.forward, float(r.attention_share)) for r in f.scaling),
                         unit=u))
    sections.append(memory_section(a, mem))
    return sections


def estimates_section(f: Flops, mac: bool) -> Section:
    """The published estimates, always in FLOPs, beside the exact training count in FLOPs (with
    --macs, the exact count converted at 2 FLOPs per multiply-accumulate), and exact ÷ estimate."""
    first = next(iter(f.estimates.values()))
    exact = None
    for e in f.estimates.values():  # the exact training count the ratios were taken against
        if e.ratio_exact_to_estimate is not None:
            exact = e.ratio_exact_to_estimate * e.value
            break
    exact_flops = exact  # the ratios are taken against the exact count in FLOPs (core/report.py)
    rows = []
    if exact_flops is not None:
        rows.append(Row("exact count", "this model, training (forward + backward)" + (", MACs × 2" if mac else ""),
                        int(exact_flops), strong=True))
    for name, e in f.estimates.items():
        ratio = None if exact_flops is None or not e.value else Fraction(exact_flops) / e.value
        rows.append(Row(name, f"{e.formula} ({e.source.split(',')[0]})", e.value, None if ratio is None else float(ratio)))
    note = "exact ÷ estimate: the exact training count ÷ the estimate"
    if mac:
        note += "; estimates are FLOPs, so the exact count is shown in FLOPs (2 per multiply-accumulate)"
    return Section(f"published estimates (FLOPs), training on {first.tokens:,} tokens", tuple(rows), note, "flops",
                   share_label="exact ÷ estimate", share_kind="ratio")


def kv_formula(a: Architecture, per_elem: str, dtype: str) -> str:
    """What one token's cache holds, in names: keys and values per key/value head, or MLA's latent,
    over the layers that cache (a hybrid's Mamba layers and an encoder keep none)."""
    layers = sum(k.count for k in cache_kinds(a) if k.per_token)
    if a.is_latent:  # DeepSeek-V2 Table 1: (d_c + d_h^R) l numbers per token
        return (f"{layers} layers × ({a.kv_lora_rank:,} latent + {a.rope_dim} rotary key) × "
                f"{per_elem} bytes ({dtype})")
    return f"2 × {layers} layers × {a.kv_heads} kv heads × {a.head_dim} × {per_elem} bytes ({dtype})"


def memory_section(a: Architecture, mem: Memory) -> Section:
    kv, tr = mem.kv_cache, mem.training
    kept = f", window keeps {kv.tokens_kept:,}" if kv.tokens_kept != kv.context else ""
    b = dtype_bytes(kv.dtype)
    per_elem = f"{b.numerator}" if b.denominator == 1 else f"{b.numerator}/{b.denominator}"
    kv_rows = (
        Row("KV cache per token", kv_formula(a, per_elem, kv.dtype), kv.per_token),
        Row("KV cache", f"batch {kv.batch} × context {kv.context:,}{kept}", kv.total, strong=True),
    ) if a.causal else ()
    return Section(f"memory (bytes; weights in {mem.dtype}" + (f", KV cache in {kv.dtype})" if a.causal else ")"), (
        Row("weights, one block", "", mem.weights.per_block),
        Row("weights", "", mem.weights.total, strong=True),
        *kv_rows,
        Row("training state", f"{tr.bytes_per_param} bytes/param: bf16 weights + grads, fp32 master + Adam (ZeRO)",
            tr.total, strong=True),
    ), unit="bytes")
