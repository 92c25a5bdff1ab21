"""FLOP and memory sections of the `count` report (plain rows; render.py draws them)."""

from __future__ import annotations

from ..core.memory import Memory
from ..core.report import Flops
from ..spec.arch import Architecture
from .sections import WORDS, Row, Section, x

PF_DAY = 10**15 * 86400  # a petaflop/s-day, GPT-3 Table D.1's unit
CORE = {"scores": "scores (q·k)", "weighted_values": "weighted sum of values", "softmax": "softmax"}


def fsec(title: str, rows, note: str = "") -> Section:
    return Section(title, tuple(rows), note, "flops")


def flop_sections(a: Architecture, f: Flops, mem: Memory) -> list[Section]:
    w, fwd, dec = f.workload, f.forward, f.decode
    tokens = w["batch"] * w["seq"]
    unit = "MAC" if f.convention["unit"] == "mac" else "FLOP"
    how = fwd.attention.per_head_formulas
    head = [Row(WORDS.get(k, CORE.get(k, k)), how[k], v) for k, v in fwd.attention.per_head_parts.items()]
    shared = "" if a.group_size == 1 else f" (key, value-down shared by {a.group_size} heads)"
    head.append(Row("one head", "projections + attention core" + shared, fwd.attention.per_head, strong=True))
    n = a.n_layers
    fwd_rows = [
        Row("attention, one block", "", fwd.attention.per_block),
        Row("MLP, one block", f"top {a.top_k} of {a.n_experts} experts + router" if a.is_moe else "", fwd.mlp.per_block),
        Row("one block", "attention + MLP" + (" + norms, adds" if fwd.elementwise else ""), fwd.per_block, strong=True),
        Row(f"{n} blocks", f"{n} × {fwd.per_block:,}", fwd.blocks, fwd.blocks / fwd.total),
        Row("  of which attention", "", fwd.attention.total, float(fwd.attention.share)),
    ]
    if fwd.unembedding:
        fwd_rows.append(Row("logits (unembedding)", x(2, tokens, a.vocab_size, a.d_model) if unit == "FLOP" else "",
                            fwd.unembedding, fwd.unembedding / fwd.total))
    for key in ("embedding", "pooler"):
        if getattr(fwd, key):
            fwd_rows.append(Row(key, "", getattr(fwd, key), getattr(fwd, key) / fwd.total))
    fwd_rows.append(Row("forward total", f"batch {w['batch']} × seq {w['seq']:,}", fwd.total, 1.0, strong=True))
    fwd_rows.append(Row("  per token", "total / tokens", fwd.total // tokens))
    dec_rows = [Row("one head", "projections of one token + attention over the cache", dec.attention.per_head),
                Row("one block", "", dec.per_block),
                Row("decode step total", f"batch {w['batch']}, {dec.context:,} cached tokens", dec.total, strong=True)]
    sections = [
        fsec(f"{unit}s of one attention head, forward (batch {w['batch']}, seq {w['seq']:,})", tuple(head)),
        fsec(f"{unit}s forward", tuple(fwd_rows)),
    ]
    if a.causal:  # an encoder has no decode step (nor KV cache)
        sections.append(fsec(f"{unit}s of one decode step", tuple(dec_rows), "decode grows linearly with the context"))
    if f.training is not None:
        t = f.training
        rows = [Row("forward", f"{t.tokens:,} tokens in sequences of {t.seq:,}", t.forward),
                Row("backward", "2 × forward", t.backward)]
        if t.recompute:
            rows.append(Row("recomputation", "1 × forward", t.recompute))
        rows.append(Row("training total", f"= {t.total / PF_DAY:,.1f} PF-days", t.total, strong=True))
        sections.append(fsec(f"{unit}s of training", tuple(rows)))
    est = [Row(name, f"{e.formula} ({e.source.split(',')[0]})", e.value, None if e.ratio_exact_to_estimate is None else float(e.ratio_exact_to_estimate))
           for name, e in f.estimates.items()]
    sections.append(fsec(f"published estimates, training on {next(iter(f.estimates.values())).tokens:,} tokens",
                            tuple(est), "share column: exact training count ÷ the estimate"))
    sections.append(fsec("attention's share of forward FLOPs as the sequence grows",
                            tuple(Row(f"seq {r.seq:,}", "", r.forward, float(r.attention_share)) for r in f.scaling)))
    sections.append(memory_section(a, mem))
    return sections


def memory_section(a: Architecture, mem: Memory) -> Section:
    kv, tr = mem.kv_cache, mem.training
    kept = f", window keeps {kv.tokens_kept:,}" if kv.tokens_kept != kv.context else ""
    kv_rows = (
        Row("KV cache per token", f"2 × {a.n_layers} layers × {a.kv_heads} kv heads × {a.head_dim}", kv.per_token),
        Row("KV cache", f"batch {kv.batch} × context {kv.context:,}{kept}", kv.total, strong=True),
    ) if a.causal else ()
    return Section(f"memory (bytes; weights in {mem.dtype}" + (f", KV cache in {kv.dtype})" if a.causal else ")"), (
        Row("weights, one block", "", mem.weights.per_block),
        Row("weights", "", mem.weights.total, strong=True),
        *kv_rows,
        Row("training state", f"{tr.bytes_per_param} bytes/param: bf16 weights + grads, fp32 master + Adam (ZeRO)",
            tr.total, strong=True),
    ), unit="bytes")
