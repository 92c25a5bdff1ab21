"""The serving sweep: tensor parallelism, batch, weight format and KV format of a model on N GPUs.

Each layout is N / tp data-parallel instances of tp GPUs, every instance decoding ``batch``
sequences of ``context`` tokens. Memory per GPU: ``core.memory.serving.serving_per_gpu`` (what
`fit --serve` computes: weights in their format, the KV cache, the prefill peak); it never falls as
the batch grows, so once a batch does not fit the larger ones are counted without being weighed.
Time: `time`'s roofline estimate (``core.time.roofline.decode_time`` / ``prefill_time``, the
functions ``time_report`` calls) of one decode step at the full context, and of one request's
prefill. Pipeline parallelism is held to 1 and experts are not split over ranks: the roofline
times tensor parallelism only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import NamedTuple

from ...errors import WorkloadError
from ...spec.arch import Architecture
from ...spec.hardware import Hardware
from ..memory.layout import check_tp
from ..memory.quant import QuantScheme, parse_format
from ..memory.serving import ServingSetup, serving_per_gpu
from ..time.roofline import decode_time, prefill_time
from ..time.setup import Setup
from .space import divisors


class ServeLayout(NamedTuple):
    tp: int
    instances: int
    batch: int
    weights: str
    kv_dtype: str


class ServeResult(NamedTuple):
    tokens_per_s: Fraction  # all instances, decode
    decode_s: Fraction  # one decode step: the time per output token
    prefill_s: Fraction  # one request's prefill of the context
    memory: int
    layout: ServeLayout
    bound_by: str

    @property
    def key(self) -> tuple:
        return (-self.tokens_per_s, self.decode_s, self.memory, self.layout)


@dataclass(frozen=True)
class ServeSpace:
    gpus: int
    context: int
    max_batch: int = 256
    weights: tuple[str, ...] = ("bf16",)
    kv_dtypes: tuple[str, ...] = ("bf16",)
    max_tp: int = 8
    tp: int | None = None
    allowance: int = 0

    @property
    def batches(self) -> list[int]:
        out, b = [], 1
        while b <= self.max_batch:
            out.append(b)
            b *= 2
        return out


@dataclass
class ServeSweep:
    space: ServeSpace
    budget: int
    candidates: int = 0
    fitting: int = 0
    results: list[ServeResult] = field(default_factory=list)  # best first
    frontier: list[ServeResult] = field(default_factory=list)  # time per token against throughput
    rejected: dict[str, int] = field(default_factory=dict)
    closest_miss: int | None = None


def time_dtype(fmt: str) -> str:
    """The dtype the roofline reads a weights format as: its bits (scales aside)."""
    f = parse_format(fmt)
    name = f.name
    if f.bits >= 16:
        return "fp16" if name == "fp16" else "fp32" if name == "fp32" else "bf16"
    if f.bits == 8:
        return "fp8" if name.startswith(("fp8", "mxfp8")) else "int8"
    return "fp4" if name.startswith(("mxfp4", "nvfp4")) else "int4"


def frontier(rs: list[ServeResult]) -> list[ServeResult]:
    """No other layout has both a shorter time per token and a higher throughput."""
    out: list[ServeResult] = []
    for r in sorted(rs, key=lambda x: (x.decode_s, -x.tokens_per_s, x.memory, x.layout)):
        if not out or r.tokens_per_s > out[-1].tokens_per_s:
            out.append(r)
    return out


def serve_sweep(a: Architecture, hw: Hardware, space: ServeSpace, budget: int, top: int = 10) -> ServeSweep:
    out = ServeSweep(space, budget)
    if space.gpus < 1 or space.context < 1 or space.max_batch < 1:
        raise WorkloadError("--gpus, --context and --max-batch must be >= 1")
    for w in space.weights:
        parse_format(w)
    everything: list[ServeResult] = []
    for tp in divisors(space.gpus):
        if tp > space.max_tp or (space.tp is not None and tp != space.tp):
            continue
        try:
            check_tp(a, tp)
        except WorkloadError:
            out.rejected["tp: does not divide the heads"] = out.rejected.get("tp: does not divide the heads", 0) + 1
            continue
        for w in space.weights:
            for kv in space.kv_dtypes:
                setup = Setup(hw, dtype=time_dtype(w), kv_dtype=kv, gpus=tp)
                prefill = prefill_time(a, setup, 1, space.context).estimate_s
                over = False
                for b in space.batches:
                    out.candidates += 1
                    if over:
                        out.rejected["memory"] = out.rejected.get("memory", 0) + 1
                        continue
                    mem = serving_per_gpu(a, ServingSetup(batch=b, context=space.context, tp=tp,
                                                          quant=QuantScheme(w), kv_dtype=kv,
                                                          allowance=space.allowance)).total
                    if mem > budget:
                        over = True
                        out.rejected["memory"] = out.rejected.get("memory", 0) + 1
                        excess = mem - budget
                        out.closest_miss = excess if out.closest_miss is None else min(out.closest_miss, excess)
                        continue
                    out.fitting += 1
                    dec = decode_time(a, setup, b, space.context)
                    instances = space.gpus // tp
                    everything.append(ServeResult(Fraction(instances * b) / dec.estimate_s, dec.estimate_s, prefill,
                                                  mem, ServeLayout(tp, instances, b, w, kv), dec.bound_by))
    everything.sort(key=lambda r: r.key)
    out.results = everything[:top]
    out.frontier = frontier(everything)
    return out
