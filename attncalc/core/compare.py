"""Side-by-side figures for `attncalc compare`: one row per headline figure, one value per model.

Every value is read from the same `count` document (report.analyse), so `compare --format json`
and `count --format json` cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Callable

Getter = Callable[[dict[str, Any]], int | Fraction | float]


def _tokens(doc: dict[str, Any]) -> int:
    w = doc["flops"]["workload"]
    return w["batch"] * w["seq"]


def _share(part: Callable[[dict], int]) -> Getter:
    return lambda d: part(d) / d["params"]["total"]


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    get: Getter
    unit: str  # count | flops | bytes | share


METRICS: tuple[Metric, ...] = (
    Metric("params_total", "parameters", lambda d: d["params"]["total"], "count"),
    Metric("params_non_embedding", "non-embedding parameters", lambda d: d["params"]["conventions"]["non_embedding"], "count"),
    Metric("params_active", "active parameters per token", lambda d: d["params"]["conventions"]["active"], "count"),
    Metric("attention_share", "attention share", _share(lambda d: d["params"]["attention"]["total"]), "share"),
    Metric("mlp_share", "MLP share", _share(lambda d: d["params"]["mlp"]["total"]), "share"),
    Metric("embedding_share", "embedding share", _share(lambda d: d["params"]["embedding"] + d["params"]["unembedding"]), "share"),
    Metric("params_per_block", "parameters per block", lambda d: d["params"]["per_block"], "count"),
    Metric("forward_flops_per_token", "forward FLOPs per token", lambda d: Fraction(d["flops"]["forward"]["total"], _tokens(d)), "flops"),
    Metric("training_flops_per_token", "training FLOPs per token", lambda d: Fraction(3 * d["flops"]["forward"]["total"], _tokens(d)), "flops"),
    Metric("kv_cache_per_token", "KV cache bytes per token", lambda d: d["memory"]["kv_cache"]["per_token"], "bytes"),
    Metric("weights_bytes", "weights", lambda d: d["memory"]["weights"]["total"], "bytes"),
)

PARTS = (("attention", "█"), ("MLP", "▓"), ("embeddings", "▒"), ("other", "░"))


def rows(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for m in METRICS:
        values = [m.get(d) for d in docs]
        first = values[0]
        ratios = [float(v / first) if first else None for v in values]
        exact = [v if isinstance(v, int) else {"numerator": v.numerator, "denominator": v.denominator}
                 if isinstance(v, Fraction) else v for v in values]
        out.append({"key": m.key, "label": m.label, "unit": m.unit, "values": exact, "approx": [float(v) for v in values],
                    "ratios": ratios, "largest": values.index(max(values)), "smallest": values.index(min(values))})
    return out


def parts(doc: dict[str, Any]) -> list[tuple[str, int]]:
    """Where the parameters go, in four parts that add up to the total."""
    p = doc["params"]
    att, mlp, emb = p["attention"]["total"], p["mlp"]["total"], p["embedding"] + p["unembedding"]
    return [("attention", att), ("MLP", mlp), ("embeddings", emb), ("other", p["total"] - att - mlp - emb)]


def bar(doc: dict[str, Any], width: int) -> str:
    """A stacked bar of ``width`` cells; each part rounded by largest remainder so the cells add up."""
    total = doc["params"]["total"]
    ps = parts(doc)
    raw = [Fraction(v * width, total) for _, v in ps]
    cells = [int(r) for r in raw]
    for i in sorted(range(len(ps)), key=lambda i: raw[i] - cells[i], reverse=True)[: width - sum(cells)]:
        cells[i] += 1
    return "".join(ch * n for (_, ch), n in zip(PARTS, cells))
