"""One call that assembles everything known about a model at a workload: the document behind
`count`, `compare` and `check` (so all three read the same numbers)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..spec.arch import Architecture
from .flop_views import flop_summary
from .flops import Convention, positive
from .memory import memory_summary
from .params import count_params
from ..present.document import document
from .views import param_summary


@dataclass(frozen=True)
class Workload:
    batch: int = 1
    seq: int | None = None  # default: the model's n_ctx
    context: int | None = None  # decode / KV cache context; default: seq
    tokens: int | None = None  # training tokens
    recompute: bool = False
    dtype: str = "bf16"
    kv_dtype: str | None = None

    def resolved(self, a: Architecture) -> "Workload":
        seq = a.n_ctx if self.seq is None else positive("--seq", self.seq)
        context = seq if self.context is None else positive("--context", self.context, 0)
        if self.tokens is not None:
            positive("--tokens", self.tokens)
        return Workload(positive("--batch", self.batch), seq, context, self.tokens, self.recompute,
                        self.dtype, self.kv_dtype)


def analyse(a: Architecture, work: Workload = Workload(), conv: Convention = Convention()) -> dict[str, Any]:
    w = work.resolved(a)
    tree = count_params(a)
    params = param_summary(a, tree)
    flops = flop_summary(a, conv, batch=w.batch, seq=w.seq, context=w.context, tokens=w.tokens,
                         recompute=w.recompute)
    memory = memory_summary(a, params, dtype=w.dtype, batch=w.batch, context=w.context, kv_dtype=w.kv_dtype)
    return document(a, params=params, flops=flops, memory=memory)
