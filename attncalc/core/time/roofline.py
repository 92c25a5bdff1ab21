"""From FLOPs to time: roofline lower bounds per matrix, per head, per block and in total.

The roofline model (Williams, Waterman & Patterson 2009, "Roofline: an insightful visual performance
model for multicore architectures", CACM 52(4), sec. 2): a kernel doing F FLOPs over B bytes of
memory traffic takes at least max(F / peak, B / bandwidth); its arithmetic intensity I = F / B
against the hardware's ridge point peak / bandwidth says which term binds (I below the ridge:
memory-bound). Applied to each part of a transformer pass:

- a matmul of T tokens by an r x c matrix: F = 2 T r c (the FLOP tree's leaf value), B = the
  weights r c (read once per pass, whatever T) + the input T c + the output T r activations;
  a d_model-wide activation is the block's residual stream, shared by the heads whose slices of
  one projection read it (or accumulate into it), so it is counted once per block, not per head;
- the attention core per head: F = the tree's (query, key) pair FLOPs, B = the minimum I/O of an
  exact attention kernel that never writes the score matrix (Dao et al. 2022, "FlashAttention",
  sec. 3.2, Theorem 2's lower end): Q and O once, K and V once per key/value head; in a decode
  step K and V are the KV cache read for the context (bytes from ``core.memory``);
- prefill and decode are the two regimes of Pope et al. 2022 ("Efficiently Scaling Transformer
  Inference", sec. 2-3): prefill processes batch x seq tokens at once (matmuls compute-bound), a
  decode step one token per sequence (weights and KV cache read for a handful of tokens:
  memory-bound below a batch near the ridge point).

A pass takes at least the sum over its parts of each part's bound: the parts run one after the
other, each at best at peak compute overlapped with peak bandwidth. That is a LOWER BOUND, never a
prediction; ``estimate`` divides the peaks by efficiencies (calibration), and stays an estimate.
Exact rationals (Fraction) throughout; floats only where a figure is shown.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

from ...errors import WorkloadError
from ...spec.arch import Architecture
from ..evaluate import decode, forward, kinds
from ...dtypes import compute_dtype, dtype_bytes, nbytes
from ...spec.hardware import Hardware
from ..memory.cache import cache_kinds, kv_cache
from ..memory.layout import row_parallel_outputs
from ..tree import Node
from ..workload import Convention, positive

# Default efficiencies for `estimate`: the best matmul FLOP and HBM efficiencies kipply observed
# profiling FasterTransformer on A100 ("Transformer Inference Arithmetic", 2022, "Comparing against
# real benchmarks": 0.7 of peak FLOPs, 0.9 of peak bandwidth), as llm-analysis uses them to
# reproduce those measurements.
DEFAULT_COMPUTE = Fraction(7, 10)
DEFAULT_MEMORY = Fraction(9, 10)
DEFAULT_NETWORK = Fraction(1)
DEFAULT_SOURCE = "default: kipply 2022, FasterTransformer on A100 reached 0.7 of peak FLOP/s, 0.9 of peak bandwidth"

def _ceil(x: Fraction | int) -> int:
    x = Fraction(x)
    return -(-x.numerator // x.denominator)


# --- efficiency --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Efficiency:
    compute: Fraction = DEFAULT_COMPUTE
    memory: Fraction = DEFAULT_MEMORY
    network: Fraction = DEFAULT_NETWORK
    source: str = DEFAULT_SOURCE

    def as_dict(self) -> dict[str, Any]:
        return {"compute": _frac(self.compute), "memory": _frac(self.memory), "network": _frac(self.network),
                "source": self.source}


def _frac(x: Fraction) -> dict[str, Any]:
    return {"numerator": x.numerator, "denominator": x.denominator, "approx": float(x)}


def exact_number(text: str, what: str) -> Fraction:
    """'0.6' -> 3/5, '60%' -> 3/5, '1/3' -> 1/3, '2e-3' -> 1/500: exact, never through a float.
    Exponents are held to +-30 (a hostile '1e999999999' would be a billion-digit integer)."""
    t = str(text).strip()

    def dec(x: str) -> Fraction:
        d = Decimal(x.strip())
        if not d.is_finite() or abs(d.adjusted()) > 30:
            raise ValueError(x)
        return Fraction(d)

    try:
        if t.endswith("%"):
            return dec(t[:-1]) / 100
        if "/" in t:
            n, d = t.split("/", 1)
            return dec(n) / dec(d)
        return dec(t)
    except (InvalidOperation, ZeroDivisionError, ValueError):
        raise WorkloadError(f"{what}: cannot read {text!r} as a number (e.g. 0.6, 60%, 3/5, 2e-3)") from None


def parse_efficiency(text: str, base: Efficiency = Efficiency()) -> Efficiency:
    """``compute=0.6,memory=0.8[,network=0.9]``: exact rationals in (0, 1]."""
    values = {"compute": base.compute, "memory": base.memory, "network": base.network}
    if not str(text).replace(",", "").strip():
        raise WorkloadError("--efficiency: expected compute=0.6,memory=0.8 (keys compute, memory, network)")
    for item in str(text).split(","):
        if not item.strip():
            continue
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or key not in values:
            raise WorkloadError(f"--efficiency: expected compute=0.6,memory=0.8 (keys compute, memory, network), "
                                f"got {item.strip()!r}")
        v = exact_number(raw, f"--efficiency {key}")
        if not 0 < v <= 1:
            raise WorkloadError(f"--efficiency {key}: must be in (0, 1], got {raw.strip()}")
        values[key] = v
    return Efficiency(values["compute"], values["memory"], values["network"], f"given: {text}")


# --- setup -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Setup:
    hw: Hardware
    dtype: str = "bf16"  # weights
    compute_dtype: str | None = None  # default: the weights' own (bf16 for int4)
    kv_dtype: str | None = None  # default: the activations'
    gpus: int = 1  # tensor parallel
    sparse: bool = False
    efficiency: Efficiency = Efficiency()

    @property
    def compute(self) -> str:
        """The dtype the matmuls run in (attncalc.dtypes): the weights' own, or bf16 for int4."""
        return compute_dtype(self.compute_dtype or self.dtype)

    @property
    def act_bytes(self) -> Fraction:
        return dtype_bytes(self.compute)

    @property
    def kv(self) -> str:
        return self.kv_dtype or self.compute

    @property
    def peak(self) -> int:
        return self.hw.peak(self.compute, self.sparse)


# --- parts -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Part:
    """One leaf of the FLOP tree, all its instances together (heads x layers)."""

    name: str  # dotted path below the pass, e.g. blocks.block.attention.heads.head.query
    label: str
    kind: str  # matmul | attention | elementwise
    count: int  # instances in the whole model
    per_block: int  # instances in one block (heads); 1 outside the blocks
    flops: int  # all instances
    weight_bytes: int
    activation_bytes: int
    kv_bytes: int

    @property
    def bytes(self) -> int:
        return self.weight_bytes + self.activation_bytes + self.kv_bytes

    @property
    def intensity(self) -> Fraction | None:
        return Fraction(self.flops, self.bytes) if self.bytes else None

    @property
    def in_block(self) -> bool:
        return "blocks" in self.name.split(".")[:-1]


def parts(a: Architecture, tree: Node, setup: Setup, queries: int, keys: int | None = None) -> list[Part]:
    """Every leaf of a forward or decode FLOP tree with its bytes moved.

    ``queries``: tokens through the projections (batch x seq, or batch in a decode step);
    ``keys``: (sequence, key) positions whose K and V the attention core reads, all sequences
    together: the tokens of a prefill; None for a decode step, where each head's keys are its
    (query, key) pairs, read off the leaf (so each block kind's window or chunk applies).
    """
    wdt, ab = setup.dtype, setup.act_bytes
    d = a.d_model
    # K and V of every key/value head (or MLA's latent), one token, one layer of each block kind
    # (an encoder keeps no cache, but its attention reads keys and values of the same size)
    kv_tok_layer = {k.name: nbytes(k.per_token, setup.kv) for k in cache_kinds(a)}
    widest = max(kv_tok_layer.values(), default=0)
    nodes = {path: times for path, _, times in tree.walk()}
    out = []
    for path, n, times in tree.leaves():
        name = path.split(".", 1)[1] if "." in path else path
        segs = path.split(".")
        in_block = "blocks" in segs[:-1]
        per_block = times
        kind = ""
        if in_block:  # instances in one block: the leaf's multiplicity over its block kind's
            i = segs.index("blocks")
            kind = segs[i + 1]
            kind_times = nodes.get(".".join(segs[:i + 2]), 1)
            per_block = times // kind_times if kind_times and times % kind_times == 0 else times
        w = act = kv = 0
        if n.kind == "matmul" and n.shape:
            rows, cols = n.shape
            tokens = n.value // (2 * rows * cols)  # leaf value = 2 x tokens x rows x cols (core.evaluate)
            copies = 1
            if a.is_moe and ".expert." in f".{name}.":
                # Routed tokens reach at most n_experts distinct experts; assumes balanced routing
                # (Fedus et al. 2021, Switch Transformers, sec. 2.2 load balancing), so min(E, T k).
                copies = min(a.n_experts, tokens)
            w = copies * nbytes(rows * cols, wdt)

            def side(width: int) -> Fraction:
                shared = per_block if width == d else 1  # the residual stream, read once per block
                return Fraction(tokens * width) * ab / shared

            act = _ceil(side(cols) + side(rows))
        elif n.kind == "attention" and n.name in ("scores", "weighted_values") and ".relative." not in f".{name}.":
            # One query head: Q in (scores) or O out (weighted values), queries x its width; and its
            # share of K (scores) or V (weighted values), stored once per key/value head (or MLA's
            # latent, shared by the heads). The leaf is 2 x pairs x width (core.evaluate).
            width = n.value // (2 * n.units) if n.units else a.head_dim
            read = keys if keys is not None else n.units  # decode: the pairs of one head = keys read
            act = _ceil(queries * width * ab)
            kv = _ceil(Fraction(read * (kv_tok_layer.get(kind) or widest), 2 * a.n_heads))
        out.append(Part(name, n.label or n.name, n.kind, times, per_block, n.value * times, w * times,
                        act * times, kv * times))
    return out


# --- time --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PartTime:
    part: Part
    compute_s: Fraction  # flops / (gpus x peak)
    memory_s: Fraction  # bytes / (gpus x bandwidth)
    estimate_s: Fraction

    @property
    def bound_s(self) -> Fraction:
        return max(self.compute_s, self.memory_s)

    @property
    def bound_by(self) -> str:
        return "compute" if self.compute_s >= self.memory_s else "memory"


@dataclass(frozen=True)
class PassTime:
    name: str  # prefill | decode | training
    times: list[PartTime]
    comm_bytes: int  # per GPU, all-reduce traffic of tensor parallelism
    comm_s: Fraction
    comm_estimate_s: Fraction
    tokens: int  # tokens this pass processes (decode: batch)
    flops: int
    bytes: int
    notes: list[str] = field(default_factory=list)

    @property
    def bound_s(self) -> Fraction:
        return sum((t.bound_s for t in self.times), Fraction(0)) + self.comm_s

    @property
    def estimate_s(self) -> Fraction:
        return sum((t.estimate_s for t in self.times), Fraction(0)) + self.comm_estimate_s

    def time_by(self, kind: str) -> Fraction:
        return sum((t.bound_s for t in self.times if t.bound_by == kind), Fraction(0))

    @property
    def bound_by(self) -> str:
        shares = {"compute": self.time_by("compute"), "memory": self.time_by("memory"), "network": self.comm_s}
        return max(shares, key=lambda k: shares[k])


def _time_parts(ps: list[Part], setup: Setup, factor: int = 1) -> list[PartTime]:
    n, e = setup.gpus, setup.efficiency
    peak, bw = setup.peak, setup.hw.memory_bytes_per_s
    out = []
    for p in ps:
        c = Fraction(factor * p.flops, n * peak)
        m = Fraction(factor * p.bytes, n * bw)
        out.append(PartTime(p, c, m, max(c / e.compute, m / e.memory)))
    return out


def _comm(a: Architecture, tokens: int, setup: Setup, passes: int = 1,
          encoder: bool = True) -> tuple[int, Fraction, Fraction]:
    """Tensor parallelism (Shoeybi et al. 2019, Megatron-LM, sec. 3 and Fig. 3): an all-reduce of
    the tokens x d_model activations after each row-parallel output of a layer, per forward pass
    (two per block: after attention, after the MLP; ``layout.row_parallel_outputs``).
    A ring all-reduce sends and receives 2 (N - 1) / N of the buffer per GPU (Patarasuk & Yuan 2009,
    "Bandwidth optimal all-reduce algorithms", sec. 3), limited by one direction of the link."""
    n = setup.gpus
    if n == 1:
        return 0, Fraction(0), Fraction(0)
    link = setup.hw.link_bytes_per_s()
    if not link:
        raise WorkloadError(f"--gpus {n}: {setup.hw.name} states no interconnect_bytes_per_s")
    buffer = Fraction(tokens * a.d_model) * setup.act_bytes
    traffic = _ceil(passes * row_parallel_outputs(a, encoder) * Fraction(2 * (n - 1), n) * buffer)
    t = Fraction(traffic, link)
    return traffic, t, t / setup.efficiency.network


def prefill_time(a: Architecture, setup: Setup, batch: int, seq: int, conv: Convention = Convention()) -> PassTime:
    """Time to first token: one forward pass over batch x seq tokens (Pope et al. 2022, sec. 2)."""
    tree = forward(a, batch, seq, conv)
    tokens = batch * seq
    ps = parts(a, tree, setup, tokens, tokens)
    traffic, c, ce = _comm(a, tokens, setup)
    return _finish("prefill", ps, _time_parts(ps, setup), traffic, c, ce, tokens, a, setup)


def decode_time(a: Architecture, setup: Setup, batch: int, context: int, conv: Convention = Convention()) -> PassTime:
    """One decode step: batch new tokens, each attending over ``context`` cached tokens (Pope et al.
    2022, sec. 2: every step re-reads all weights and the KV cache, hence memory-bound)."""
    tree = decode(a, batch, context, conv)
    ps = parts(a, tree, setup, batch)
    traffic, c, ce = _comm(a, batch, setup, encoder=False)
    return _finish("decode", ps, _time_parts(ps, setup), traffic, c, ce, batch, a, setup, context=context)


def training_time(a: Architecture, setup: Setup, batch: int, seq: int, conv: Convention = Convention(),
                  recompute: bool = False) -> PassTime:
    """One training step on batch x seq tokens: backward = 2 x forward FLOPs (Kaplan et al. 2020,
    sec. 2.1), + 1 forward with full recomputation (Korthikanti et al. 2022); bytes taken as the same
    multiple of the forward's (the backward reads weights and output gradients to make input
    gradients, and inputs and output gradients to make weight gradients). Optimizer step excluded."""
    factor = 4 if recompute else 3
    tree = forward(a, batch, seq, conv)
    tokens = batch * seq
    ps = parts(a, tree, setup, tokens, tokens)
    traffic, c, ce = _comm(a, tokens, setup, passes=factor - 1)
    return _finish("training", ps, _time_parts(ps, setup, factor), traffic, c, ce, tokens, a, setup, factor=factor)


def _finish(name, ps, times, traffic, c, ce, tokens, a, setup, factor=1, context=None) -> PassTime:
    notes = []
    if setup.hw.memory_bytes:
        weights = sum(p.weight_bytes for p in ps if p.kind == "matmul")
        need = Fraction(weights, setup.gpus)
        if context is not None:
            need += Fraction(kv_cache(a, dtype=setup.kv, batch=tokens, context=context).total, setup.gpus)
        if need > setup.hw.memory_bytes:
            notes.append(f"does not fit: weights{' + KV cache' if context is not None else ''} need "
                         f"{_ceil(need):,} bytes per GPU, {setup.hw.name} has {setup.hw.memory_bytes:,}")
    return PassTime(name, times, traffic, c, ce, tokens, factor * sum(p.flops for p in ps),
                    factor * sum(p.bytes for p in ps), notes)


# --- calibration -------------------------------------------------------------------------------


def _solve(pairs: list[tuple[Fraction, Fraction]], const: Fraction, target: Fraction) -> Fraction | None:
    """Solve sum_p max(a_p / e, b_p) + const = target for e > 0 exactly (a_p, b_p >= 0).

    The left side falls as e grows; between breakpoints e_p = a_p / b_p the set S of parts with
    a_p / e >= b_p is fixed, and e = A_S / (target - const - B_notS)."""
    pairs = [(x, y) for x, y in pairs if x or y]
    if not pairs:
        return None
    cuts = sorted({x / y for x, y in pairs if y and x} | {Fraction(0)})
    cuts.append(None)  # +infinity
    for lo, hi in zip(cuts, cuts[1:]):
        probe = lo + 1 if hi is None else (lo + hi) / 2
        a_s = sum((x for x, y in pairs if x / probe >= y), Fraction(0))
        b_n = sum((y for x, y in pairs if x / probe < y), Fraction(0))
        rest = target - const - b_n
        if a_s and rest > 0:
            e = a_s / rest
            if e >= lo and (hi is None or e <= hi):
                return e
    return None


def fit_efficiency(measured: dict[str, tuple[PassTime, Fraction]], base: Efficiency = Efficiency(),
                   rounds: int = 4) -> Efficiency:
    """Efficiencies that make the estimate equal the measured times given.

    ``measured``: {"prefill": (pass, seconds), "decode": (pass, seconds per step)}. Prefill fits the
    compute efficiency (memory held), decode the memory efficiency (compute held); with both, the two
    fits alternate a few rounds (each rounded to 6 significant digits as a rational)."""
    ec, em = base.compute, base.memory
    order = [k for k in ("prefill", "decode", "training") if k in measured]
    if not order:
        return base
    for _ in range(rounds if len(order) > 1 else 1):
        for k in order:
            pt, secs = measured[k]
            if secs <= 0:
                raise WorkloadError(f"measured {k} time must be positive")
            const = pt.comm_estimate_s
            if k == "decode":
                pairs = [(t.memory_s, t.compute_s / ec) for t in pt.times]
                e = _solve(pairs, const, secs)
                if e is None:
                    raise WorkloadError(f"measured {k} time {float(secs):.6g} s is below what compute alone "
                                        f"needs at compute efficiency {float(ec):.3g}: no memory efficiency fits")
                em = e.limit_denominator(10**6)
            else:
                pairs = [(t.compute_s, t.memory_s / em) for t in pt.times]
                e = _solve(pairs, const, secs)
                if e is None:
                    raise WorkloadError(f"measured {k} time {float(secs):.6g} s is below what memory alone "
                                        f"needs at memory efficiency {float(em):.3g}: no compute efficiency fits")
                ec = e.limit_denominator(10**6)
    for k, v in (("compute", ec), ("memory", em)):
        if v > 1:
            raise WorkloadError(f"the measured {' and '.join(order)} time is below the roofline lower bound "
                                f"({k} efficiency {float(v):.3g} > 1): check the hardware file, dtype and workload")
    src = "fitted to measured " + " and ".join(order)
    return Efficiency(ec, em, base.network, src)


def with_efficiency(setup: Setup, e: Efficiency) -> Setup:
    return replace(setup, efficiency=e)


# --- model FLOPs utilization -------------------------------------------------------------------


def mfu(a: Architecture, setup: Setup, tokens_per_s: Fraction, mode: str, *, seq: int, context: int,
        batch: int = 1, devices: int | None = None) -> dict[str, dict[str, Any]]:
    """Model FLOPs utilization of a measured throughput under each published convention.

    MFU = FLOPs per token (convention) x tokens/s / (gpus x dense peak) (Chowdhery et al. 2022, PaLM,
    Appendix B). ``mode``: training (forward + backward: 3 x forward), prefill or decode (forward).
    ``devices``: the chips the throughput was measured on (default: ``setup.gpus``).
    Conventions: 6N or 2N (N all parameters: Kaplan et al. 2020 / GPT-3 Table D.1); PaLM's
    6N + 12 L H Q T (N all parameters, a tied embedding once: that N reproduces PaLM 540B's 46.2% at
    238.3K tokens/s on 6144 TPU v4, sec. 4; attention over the full sequence); the exact count, causal or
    full, with or without the logits; and, for training, hardware FLOPs with full recomputation
    (one more forward: Chowdhery et al. 2022 Appendix B 'hardware FLOPs utilization')."""
    from ..figures import params_of

    if mode not in ("training", "prefill", "decode"):
        raise WorkloadError(f"--mfu-mode must be training, prefill or decode, not {mode!r}")
    if tokens_per_s <= 0:
        raise WorkloadError("measured tokens/s must be positive")
    s = params_of(a)
    n_all = s.total
    f = 3 if mode == "training" else 1
    # L: the layers that attend (a hybrid's Mamba layers have no attention term)
    L, H, Q = sum(k.count for k in kinds(a) if k.pattern is None or not k.pattern.encoder
                  if any(c.name == "attention" for c in k.children)), a.n_heads, a.head_dim
    ctx_keys = seq if mode != "decode" else context + 1

    def exact(attention: str, logits: bool) -> Fraction:
        conv = Convention(attention=attention)
        if mode == "decode":
            tree, tokens = decode(a, batch, context, conv), batch
        else:
            tree, tokens = forward(a, batch, seq, conv), batch * seq
        total = tree.total - (0 if logits else tree.total_at("unembedding"))
        return Fraction(f * total, tokens)

    # a mixture of experts: N = the parameters a token runs (N_active), as the field reports MoE MFU
    # (DeepSeek-V3 technical report; Megatron-LM counts top-k experts); N_total labelled beside it
    n_active = s.conventions.active
    which = f"N = N_active, {n_active:,} parameters a token runs" if n_active != n_all else f"N = all {n_all:,} parameters"
    per_token: dict[str, tuple[Fraction, str]] = {
        f"{2 * f}N": (Fraction(2 * f * n_active), f"{2 * f} x N, {which} (Kaplan et al. 2020; GPT-3 Table D.1)"),
        "palm": (Fraction(f * (2 * n_active + 4 * L * H * Q * ctx_keys)),
                 f"{2 * f}N + {4 * f} L H Q T, {which}, T = {ctx_keys:,} keys (PaLM Appendix B)"),
    }
    if n_active != n_all:
        per_token[f"{2 * f}N_total"] = (Fraction(2 * f * n_all), f"{2 * f} x N, N = N_total, all {n_all:,} parameters")
        per_token["palm_total"] = (Fraction(f * (2 * n_all + 4 * L * H * Q * ctx_keys)),
                                   f"{2 * f}N + {4 * f} L H Q T, N = N_total, all {n_all:,} parameters")
    per_token |= {
        "exact_causal": (exact("causal", True), "exact count, causal attention, logits included"),
        "exact_causal_no_logits": (exact("causal", False), "exact count, causal attention, without the logits"),
        "exact_full": (exact("full", True), "exact count, full S x S attention, logits included"),
        "exact_full_no_logits": (exact("full", False), "exact count, full S x S attention, without the logits"),
    }
    if mode == "training":
        fwd = exact("causal", True) / 3
        per_token["hardware_recompute"] = (4 * fwd, "hardware FLOPs: exact causal with full recomputation "
                                                    "(4 passes; PaLM Appendix B, HFU)")
    peak = (devices or setup.gpus) * setup.peak
    return {k: {"flops_per_token": v, "mfu": v * tokens_per_s / peak, "what": what}
            for k, (v, what) in per_token.items()}


# --- assumptions and documents -----------------------------------------------------------------


def assumptions(setup: Setup) -> list[str]:
    hw = setup.hw
    out = [
        "LOWER BOUNDS under the roofline (Williams et al. 2009): each part takes max(FLOPs / peak, bytes / bandwidth); "
        "the parts run one after another; no launch, synchronisation or framework overhead",
        f"peak: {hw.name} {setup.compute} {'SPARSE (2:4 structured sparsity)' if setup.sparse else 'dense'} "
        f"{setup.peak:,} FLOP/s; bandwidth {hw.memory_bytes_per_s:,} bytes/s"
        + (" (measured on this machine)" if hw.measured else f" ({hw.source})"),
        f"weights {setup.dtype}, matmuls in {setup.compute}, activations {float(setup.act_bytes):g} bytes per "
        f"element, KV cache {setup.kv}",
        "each weight matrix is read once per pass; a d_model-wide activation is read or written once per block; "
        "the attention core reads Q, K, V and writes O once and never writes the score matrix (Dao et al. 2022); "
        "element-wise work (norms, activations, softmax) is fused and moves no extra bytes",
        "a decode step reads every weight and the whole KV cache of the context once (Pope et al. 2022)",
        "mixture of experts: balanced routing, min(n_experts, routed tokens) experts' weights read",
    ]
    if setup.gpus > 1:
        link = hw.link_bytes_per_s()
        out.append(f"tensor parallel over {setup.gpus} GPUs: FLOPs and bytes split evenly; 2 ring all-reduces of "
                   f"tokens x d_model per block and pass (Megatron-LM) over {link:,} bytes/s per direction "
                   f"({hw.interconnect}), not overlapped with compute")
    e = setup.efficiency
    out.append(f"estimate = the same with peak x {float(e.compute):.4g} and bandwidth x {float(e.memory):.4g}"
               + (f" and link x {float(e.network):.4g}" if setup.gpus > 1 else "") + f" ({e.source})")
    return out


def part_dict(t: PartTime) -> dict[str, Any]:
    p = t.part
    i = p.intensity
    return {"name": p.name, "label": p.label, "kind": p.kind, "count": p.count, "per_block": p.per_block,
            "flops": p.flops, "bytes": p.bytes, "weight_bytes": p.weight_bytes,
            "activation_bytes": p.activation_bytes, "kv_bytes": p.kv_bytes,
            "intensity": None if i is None else float(i), "bound_by": t.bound_by, "bound_s": float(t.bound_s),
            "estimate_s": float(t.estimate_s)}


def pass_dict(pt: PassTime) -> dict[str, Any]:
    return {"bound_s": float(pt.bound_s), "bound_s_exact": f"{pt.bound_s.numerator}/{pt.bound_s.denominator}",
            "estimate_s": float(pt.estimate_s), "bound_by": pt.bound_by, "tokens": pt.tokens, "flops": pt.flops,
            "bytes": pt.bytes, "compute_bound_s": float(pt.time_by("compute")),
            "memory_bound_s": float(pt.time_by("memory")), "comm_bytes_per_gpu": pt.comm_bytes,
            "comm_s": float(pt.comm_s), "notes": pt.notes}


def views(pt: PassTime, a: Architecture) -> dict[str, dict[str, Any]]:
    """One query head (with its share of a key/value head it shares with the group), one block,
    and the whole pass: FLOPs, bytes, intensity and the bound of each."""
    factor = pass_factor(pt)
    block = [t for t in pt.times if t.part.in_block]

    def head_share(t: PartTime) -> Fraction:
        p = t.part
        if ".attention." not in f".{p.name}." or p.kind == "elementwise" and p.per_block != a.n_heads:
            return Fraction(0)
        if p.per_block == a.n_heads:
            return Fraction(1)
        if p.per_block == a.kv_heads:
            return Fraction(1, a.group_size)
        return Fraction(0)

    def summary(weights: list[tuple[PartTime, Fraction]]) -> dict[str, Any]:
        f = sum((Fraction(t.part.flops, t.part.count) * w for t, w in weights), Fraction(0)) * factor
        b = sum((Fraction(t.part.bytes, t.part.count) * w for t, w in weights), Fraction(0)) * factor
        s = sum((t.bound_s / t.part.count * w for t, w in weights), Fraction(0))
        return {"flops": _ceil(f), "bytes": _ceil(b), "intensity": float(f / b) if b else None, "bound_s": float(s)}

    return {"per_head": summary([(t, head_share(t)) for t in block]),
            "per_block": summary([(t, Fraction(t.part.per_block)) for t in block]),
            "total": {"flops": pt.flops, "bytes": pt.bytes,
                      "intensity": float(Fraction(pt.flops, pt.bytes)) if pt.bytes else None,
                      "bound_s": float(pt.bound_s)}}


def pass_factor(pt: PassTime) -> int:
    """3 (4 with recomputation) for a training step, 1 for a forward or decode pass."""
    base = sum(t.part.flops for t in pt.times)
    return pt.flops // base if base else 1


# --- the `time` document -----------------------------------------------------------------------


@dataclass(frozen=True)
class Measured:
    """What the user measured for this model and workload, to fit the efficiencies."""

    prefill_s: Fraction | None = None
    decode_s: Fraction | None = None  # per step (per output token of each sequence)
    decode_tokens_per_s: Fraction | None = None  # all sequences together: batch / step time

    def any(self) -> bool:
        return any(v is not None for v in (self.prefill_s, self.decode_s, self.decode_tokens_per_s))


def time_document(a: Architecture, setup: Setup, *, batch: int, seq: int, context: int,
                  tokens: int | None = None, conv: Convention = Convention(), recompute: bool = False,
                  measured: Measured = Measured(), mfu_tokens_per_s: Fraction | None = None,
                  mfu_mode: str = "training", mfu_devices: int | None = None) -> dict[str, Any]:
    """Everything `attncalc time` shows, as the JSON document's ``time`` (and ``mfu``) sections.

    ``count --hw`` can merge the result into its own document: ``doc |= time_document(...)``."""
    positive("--batch", batch), positive("--seq", seq), positive("--context", context, 0)
    positive("--gpus", setup.gpus)
    pre = prefill_time(a, setup, batch, seq, conv)
    dec = decode_time(a, setup, batch, context, conv)
    if measured.any():
        m: dict[str, tuple[PassTime, Fraction]] = {}
        if measured.prefill_s is not None:
            m["prefill"] = (pre, measured.prefill_s)
        step = measured.decode_s
        if step is None and measured.decode_tokens_per_s is not None:
            if measured.decode_tokens_per_s <= 0:
                raise WorkloadError("--measured-tokens-per-s must be positive")
            step = Fraction(batch) / measured.decode_tokens_per_s
        if step is not None:
            m["decode"] = (dec, step)
        setup = with_efficiency(setup, fit_efficiency(m, setup.efficiency))
        pre = prefill_time(a, setup, batch, seq, conv)
        dec = decode_time(a, setup, batch, context, conv)
    ridge = setup.hw.ridge(setup.compute, setup.sparse)
    doc: dict[str, Any] = {
        "lower_bound": True,
        "what": "bound_s is a LOWER BOUND under the roofline; estimate_s divides the peaks by the efficiencies",
        "hardware": setup.hw.name, "compute_dtype": setup.compute, "sparse": setup.sparse, "gpus": setup.gpus,
        "peak_flops_per_s": setup.peak, "memory_bytes_per_s": setup.hw.memory_bytes_per_s,
        "ridge_flops_per_byte": float(ridge), "ridge_exact": f"{ridge.numerator}/{ridge.denominator}",
        "efficiency": setup.efficiency.as_dict(), "assumptions": assumptions(setup),
        "workload": {"batch": batch, "seq": seq, "context": context, "tokens": tokens, "recompute": recompute,
                     "dtype": setup.dtype, "kv_dtype": setup.kv, "attention": "causal" if conv.causal(a) else "full"},
        "prefill": {**pass_dict(pre), "estimate_ms": float(pre.estimate_s * 1000), **views(pre, a)},
        "decode": {**_decode_dict(dec, batch), **views(dec, a)},
        "parts": [{"pass": "prefill", **part_dict(t)} for t in pre.times]
                 + [{"pass": "decode", **part_dict(t)} for t in dec.times],
    }
    if measured.any():
        doc["measured"] = {k: float(v) for k, v in (("prefill_s", measured.prefill_s), ("decode_s", measured.decode_s),
                                                    ("decode_tokens_per_s", measured.decode_tokens_per_s)) if v is not None}
    if tokens is not None or recompute:
        tr = training_time(a, setup, batch, seq, conv, recompute)
        td = {**pass_dict(tr), "step_tokens": batch * seq}
        if tokens is not None:
            steps = Fraction(tokens, batch * seq)
            td.update(tokens=tokens, steps=float(steps), total_bound_s=float(tr.bound_s * steps),
                      total_estimate_s=float(tr.estimate_s * steps))
        doc["training"] = td
    out: dict[str, Any] = {"time": doc}
    if mfu_tokens_per_s is not None:
        if mfu_devices is not None:
            positive("--mfu-devices", mfu_devices)
        res = mfu(a, setup, mfu_tokens_per_s, mfu_mode, seq=seq, context=context, batch=batch, devices=mfu_devices)
        out["mfu"] = {k: float(v["mfu"]) for k, v in res.items()}
        out["mfu_detail"] = {"mode": mfu_mode, "tokens_per_s": float(mfu_tokens_per_s),
                             "gpus": mfu_devices or setup.gpus,
                             "peak_flops_per_s": setup.peak,
                             "conventions": {k: {"flops_per_token": float(v["flops_per_token"]),
                                                 "mfu": float(v["mfu"]), "what": v["what"]} for k, v in res.items()}}
    return out


def _decode_dict(dec: PassTime, batch: int) -> dict[str, Any]:
    d = pass_dict(dec)
    return {"bound_s_per_token": d.pop("bound_s"), "estimate_s_per_token": d.pop("estimate_s"),
            "estimate_ms_per_token": float(dec.estimate_s * 1000),
            "tokens_per_s": float(batch / dec.estimate_s), "tokens_per_s_bound": float(batch / dec.bound_s),
            "what_tokens_per_s": "estimate, all sequences together; tokens_per_s_bound is the upper bound",
            **d}


def attention_block_bound(a: Architecture, setup: Setup, batch: int, seq: int,
                          conv: Convention = Convention()) -> Fraction:
    """The roofline lower bound of one attention block (projections and core, no biases) over
    batch x seq tokens: what `attncalc run` executes (``run.plan.Plan.arch`` for a head subset), so
    `run` can print its measured time beside it on `this`."""
    bare = a.replace(qkv_bias=False, out_bias=False, n_layers=1)
    tokens = batch * seq
    ps = [p for p in parts(bare, forward(bare, batch, seq, Convention(conv.attention, "matmul")), setup, tokens, tokens)
          if ".attention." in f".{p.name}."]
    return sum((t.bound_s for t in _time_parts(ps, setup)), Fraction(0))
