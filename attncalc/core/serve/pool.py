"""The KV blocks a request holds in an engine's pool (every group of a hybrid layout, windows capped),
for the serving simulation."""

from __future__ import annotations

from .capacity import EngineCapacity
from .terms import cdiv


def _count_le(sorted_vals: list[int], x: int) -> int:
    import bisect

    return bisect.bisect_right(sorted_vals, x)


def _sum_ctx_capped(ctxs: list[int], w: int, j: int) -> int:
    """Σ ctx over the requests already capped at step j (j >= w - 1 - ctx)."""
    return sum(c for c in ctxs if j >= w - 1 - c)


def blocks_need(capacity: EngineCapacity, mnbt: int):
    """The blocks a request of n cached tokens holds, as the engine allocates them: one block per
    block_size tokens in every full-attention group; a sliding-window group at most its window plus a
    step's tokens (vLLM ``SlidingWindowSpec``), a Mamba group one block (its state)."""
    groups = capacity.groups
    specs = {sp.kind: sp for sp in capacity.specs if sp.spec != "mamba"}  # a kind's attention spec (Falcon-H1 has a state too)
    parts = []
    for g in groups:
        sp = specs.get(g.kinds[0]) if g.kinds else None
        if g.spec == "mamba":
            parts.append(("state", 0, 0))
        elif g.spec == "sliding" and sp is not None and sp.window:
            parts.append(("window", g.block_size, cdiv(sp.window - 1 + mnbt, g.block_size) + 1))
        else:
            parts.append(("full", g.block_size, 0))
    if all(p[0] == "full" for p in parts) and len({p[1] for p in parts}) == 1:
        bs, m = parts[0][1], len(parts)

        def uniform(n: int) -> int:
            return m * -(-n // bs)

        uniform.uniform = (m, bs)
        return uniform

    def need(n: int) -> int:
        total = 0
        for kind, bs, cap in parts:
            total += 1 if kind == "state" else (cdiv(n, bs) if kind == "full" else min(cdiv(n, bs), cap))
        return total

    return need
