"""Side-by-side figures for `attncalc compare`: one row per headline figure, one value per model.

Every value is read from the same typed Report as `count` (core.report.build), so
`compare --format json` and `count --format json` cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Callable

from .report import Report

Getter = Callable[[Report], int | Fraction]


def _share(part: Callable[[Report], int]) -> Getter:
    return lambda r: r.params.share(part(r))


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    get: Getter
    unit: str  # count | flops | bytes | share


METRICS: tuple[Metric, ...] = (
    Metric("params_total", "parameters", lambda r: r.params.total, "count"),
    Metric("params_non_embedding", "non-embedding parameters", lambda r: r.params.conventions.non_embedding, "count"),
    Metric("params_active", "active parameters per token", lambda r: r.params.conventions.active, "count"),
    Metric("attention_share", "attention share", _share(lambda r: r.params.attention.total), "share"),
    Metric("mlp_share", "MLP share", _share(lambda r: r.params.mlp.total), "share"),
    Metric("embedding_share", "embedding share", _share(lambda r: r.params.embedding + r.params.unembedding), "share"),
    Metric("params_per_block", "parameters per block", lambda r: r.params.per_block, "count"),
    Metric("forward_flops_per_token", "forward FLOPs per token", lambda r: r.flops.forward_per_token, "flops"),
    Metric("training_flops_per_token", "training FLOPs per token", lambda r: 3 * r.flops.forward_per_token, "flops"),
    Metric("kv_cache_per_token", "KV cache bytes per token", lambda r: r.memory.kv_cache.per_token, "bytes"),
    Metric("weights_bytes", "weights", lambda r: r.memory.weights.total, "bytes"),
)

PARTS = (("attention", "█"), ("MLP", "▓"), ("embeddings", "▒"), ("other", "░"))


def rows(reports: list[Report]) -> list[dict[str, Any]]:
    out = []
    for m in METRICS:
        values = [m.get(r) for r in reports]
        if m.unit == "share":  # a share is shown as a fraction of 1: its float is the contract
            values = [float(v) for v in values]
        first = values[0]
        ratios = [float(v / first) if first else None for v in values]
        exact = [v if isinstance(v, int) else {"numerator": v.numerator, "denominator": v.denominator}
                 if isinstance(v, Fraction) else v for v in values]
        out.append({"key": m.key, "label": m.label, "unit": m.unit, "values": exact, "approx": [float(v) for v in values],
                    "ratios": ratios, "largest": values.index(max(values)), "smallest": values.index(min(values))})
    return out


def parts(r: Report) -> list[tuple[str, int]]:
    """Where the parameters go, in four parts that add up to the total."""
    p = r.params
    att, mlp, emb = p.attention.total, p.mlp.total, p.embedding + p.unembedding
    return [("attention", att), ("MLP", mlp), ("embeddings", emb), ("other", p.total - att - mlp - emb)]


def bar(r: Report, width: int) -> str:
    """A stacked bar of ``width`` cells; each part rounded by largest remainder so the cells add up."""
    total = r.params.total
    ps = parts(r)
    raw = [Fraction(v * width, total) for _, v in ps]
    cells = [int(r) for r in raw]
    for i in sorted(range(len(ps)), key=lambda i: raw[i] - cells[i], reverse=True)[: width - sum(cells)]:
        cells[i] += 1
    return "".join(ch * n for (_, ch), n in zip(PARTS, cells))
