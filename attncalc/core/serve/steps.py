"""What one engine step costs: THE function the serving simulation reads time from.

``step_costs(a, setup)`` builds, once, the per-part coefficients of core.time's roofline estimate
(core.time.parts / core.time.roofline: each part takes max(FLOPs / (peak × compute efficiency),
bytes / (bandwidth × memory efficiency)), the parts one after another, plus the tensor-parallel
all-reduces) from the FLOP tree of a forward pass at 1 and 2 tokens:

- every matmul part i: FLOPs f_i per token, weight bytes W_i (read once per step; a routed expert's
  read once per expert reached, min(n_experts, top_k × tokens), as core.time counts them) and
  activation bytes a_i per token; the unembedding runs only on the rows the step samples;
- the attention core of each block kind: FLOPs per (query, key) pair, K/V bytes per key read and Q/O
  bytes per query, so a step's attention costs what its pairs and reads are (a window caps them);
- the all-reduce of tensor parallelism per token (core.time.roofline._comm).

A step of the engine (a prefill chunk of n tokens after p cached ones, and a decode batch at its
contexts, mixed in one forward as vLLM V1 and SGLang run chunked prefill) then costs
Σ_i max(f_i T / P, (W_i + a_i T) / B) + the attention parts + comm, evaluated exactly (Fractions) and
rounded up to whole nanoseconds. Swapping the time model (another helper's kernel and launch model,
core/time/kernels.py, passes.py) means rewriting this one function; ``StepCosts.step_ns`` is all the
simulation calls.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

from ...spec.arch import Architecture
from ..evaluate import forward, kinds
from ..time.parts import parts
from ..time.roofline import _comm
from ..time.setup import Setup

NS = 10 ** 9


@dataclass(frozen=True)
class Matmul:
    name: str
    flops: Fraction  # per token
    weights: Fraction  # bytes read once per step (per expert reached for routed experts)
    acts: Fraction  # bytes per token
    experts: int = 0  # n_experts when routed (weights read per expert reached)
    top_k: int = 1


@dataclass(frozen=True)
class KindAttention:
    kind: str
    window: int | None
    flops_per_pair: Fraction
    kv_per_key: Fraction
    qo_per_query: Fraction


@dataclass(frozen=True)
class StepCosts:
    """Per-step cost coefficients (exact Fractions, ns), and the same held as integers in units of
    1/SCALE ns for the simulation's inner loop (each coefficient rounded to the nearest unit: exact to
    about one part in a million of the rational, far below the model's own error)."""

    source: str
    compute_ns: Fraction  # ns per FLOP (1e9 / (gpus × peak × compute efficiency))
    memory_ns: Fraction  # ns per byte (1e9 / (gpus × bandwidth × memory efficiency))
    matmuls: tuple[Matmul, ...]
    unembedding: Matmul | None
    attention: tuple[KindAttention, ...]
    comm_ns_per_token: Fraction
    overhead_ns: int = 0  # a fixed cost per step (launches, scheduling): 0 in the roofline
    windows: tuple = field(default=(), compare=False)  # distinct windows of the attention kinds (None: full)
    _int: tuple = field(default=(), repr=False, compare=False)

    def __post_init__(self) -> None:
        S = SCALE

        def q(x: Fraction) -> int:
            return round(x * S)

        dense, routed = [], []
        for m in self.matmuls:
            row = (q(m.flops * self.compute_ns), q(m.weights * self.memory_ns), q(m.acts * self.memory_ns))
            (routed.append(row + (m.experts, m.top_k)) if m.experts else dense.append(row))
        u = self.unembedding
        unemb = (q(u.flops * self.compute_ns), q(u.weights * self.memory_ns), q(u.acts * self.memory_ns)) if u else None
        windows = tuple(dict.fromkeys(k.window for k in self.attention))
        att = []
        for w in windows:
            ks = [k for k in self.attention if k.window == w]
            att.append((q(sum((k.flops_per_pair for k in ks), Fraction(0)) * self.compute_ns),
                        q(sum((k.kv_per_key for k in ks), Fraction(0)) * self.memory_ns)))
        qo = q(sum((k.qo_per_query for k in self.attention), Fraction(0)) * self.memory_ns)
        object.__setattr__(self, "windows", windows)
        object.__setattr__(self, "_int", (tuple(dense), tuple(routed), unemb, tuple(att), qo,
                                          q(self.comm_ns_per_token)))

    def matmul_int(self, tokens: int, sampled: int) -> int:
        """The matmuls and all-reduces of a step, in 1/SCALE ns (what does not depend on contexts)."""
        dense, routed, unemb, _, _, comm = self._int
        t = 0
        for f, w, a in dense:
            c, m = f * tokens, w + a * tokens
            t += c if c > m else m
        for f, w, a, e, k in routed:
            c, m = f * tokens, w * min(e, k * tokens) + a * tokens
            t += c if c > m else m
        if unemb is not None and sampled:
            f, w, a = unemb
            c, m = f * sampled, w + a * sampled
            t += c if c > m else m
        return t + comm * tokens

    def step_ns_int(self, tokens: int, sampled: int, pairs: list[int], keys: list[int]) -> int:
        """A step of ``tokens`` tokens through the matmuls, ``sampled`` rows through the unembedding, and
        per window of ``windows`` its (query, key) ``pairs`` and K/V ``keys`` read: whole ns (ceil)."""
        if tokens == 0:
            return 0
        dense, routed, unemb, att, qo, comm = self._int
        t = 0
        for f, w, a in dense:
            c, m = f * tokens, w + a * tokens
            t += c if c > m else m
        for f, w, a, e, k in routed:
            c, m = f * tokens, w * min(e, k * tokens) + a * tokens
            t += c if c > m else m
        if unemb is not None and sampled:
            f, w, a = unemb
            c, m = f * sampled, w + a * sampled
            t += c if c > m else m
        c = m = 0
        for (f, kv), p, kk in zip(att, pairs, keys):
            c += f * p
            m += kv * kk
        m += qo * tokens
        t += c if c > m else m
        t += comm * tokens
        return -(-t // SCALE) + self.overhead_ns

    def step_ns(self, chunks: list[tuple[int, int]], decode: list[int], draft: int = 0,
                sampled: int | None = None) -> int:
        """One step: ``chunks`` (new tokens, cached before) of prefills, ``decode`` the contexts of the
        decoding sequences (each verifies ``draft`` + 1 tokens with speculative decoding); ``sampled``:
        the rows the unembedding runs on (default one per chunk and per verified token)."""
        per = draft + 1
        tokens = sum(n for n, _ in chunks) + per * len(decode)
        if sampled is None:
            sampled = len(chunks) + per * len(decode)
        pairs, keys = [], []
        for w in self.windows:
            p = k = 0
            for n, c in chunks:
                p += _pairs(c, n, w)
                k += min(c + n, w) if w else c + n
            for c in decode:
                p += _pairs(c, per, w)
                k += min(c + per, w) if w else c + per
            pairs.append(p)
            keys.append(k)
        return self.step_ns_int(tokens, sampled, pairs, keys)


SCALE = 10 ** 12  # integer time units per ns in the inner loop


def _pairs(p: int, n: int, w: int | None) -> int:
    """(query, key) pairs of queries p..p+n-1 of a causal sequence, each seeing min(i + 1, w) keys."""
    if not w:
        return n * p + n * (n + 1) // 2
    total = 0
    lo, hi = p, p + n  # queries i in [lo, hi): keys min(i + 1, w)
    full_from = max(lo, w - 1)  # i + 1 >= w from i = w - 1
    if full_from < hi:
        total += (hi - full_from) * w
        hi = full_from
    if lo < hi:  # i + 1 for i in [lo, hi)
        total += (hi * (hi + 1) - lo * (lo + 1)) // 2
    return total


def step_costs(a: Architecture, setup: Setup, overhead_ns: int = 0) -> StepCosts:
    """THE swap point: per-step coefficients from core.time's roofline estimate (see the module doc)."""
    e = setup.efficiency
    n = setup.gpus
    compute_ns = Fraction(NS) / (n * setup.peak * e.compute)
    memory_ns = Fraction(NS) / (n * setup.hw.memory_bytes_per_s * e.memory)
    one = parts(a, forward(a, 1, 1), setup, 1, 1)
    two = {p.name: p for p in parts(a, forward(a, 1, 2), setup, 2, 2)}
    windows = {k.name: (k.pattern.window or k.pattern.chunk) if k.pattern is not None else None for k in kinds(a)}
    matmuls, unemb = [], None
    att: dict[str, list[Fraction]] = {}
    for p in one:
        q = two[p.name]
        if p.kind == "matmul":
            routed = a.is_moe and ".expert." in f".{p.name}."
            if routed:
                copies = min(a.n_experts, a.top_k)
                m = Matmul(p.name, Fraction(p.flops), Fraction(p.weight_bytes, copies),
                           Fraction(q.activation_bytes - p.activation_bytes), a.n_experts, a.top_k)
            else:
                m = Matmul(p.name, Fraction(p.flops), Fraction(p.weight_bytes),
                           Fraction(q.activation_bytes - p.activation_bytes))
            if p.name.startswith("unembedding"):
                unemb = m
            else:
                matmuls.append(m)
        elif p.kind == "attention" and p.in_block:
            kind = p.name.split(".")[1]
            acc = att.setdefault(kind, [Fraction(0)] * 3)
            acc[0] += p.flops  # one pair per head per layer at one token
            acc[1] += p.kv_bytes  # one key read
            acc[2] += p.activation_bytes  # one query
    attention = tuple(KindAttention(k, windows.get(k), v[0], v[1], v[2]) for k, v in att.items())
    big = 10 ** 6
    _, _, comm = _comm(a, big, setup, encoder=False)
    return StepCosts(f"core.time roofline estimate ({setup.hw.name}, {setup.compute}, compute × {e.compute}, "
                     f"memory × {e.memory}, {n} GPU(s))", compute_ns, memory_ns, tuple(matmuls), unemb, attention,
                     Fraction(comm) * NS / big, overhead_ns)
