"""Kernel time on a named GPU: matrix products by shape, flash-style attention, memory-bound kernels,
and the launch cost of the engine that issues them.

Matmul (NVIDIA, "Matrix Multiplication Background User's Guide", sections "Tile Quantization" and
"Wave Quantization"): C = A B of M x N x K is computed in output tiles of Tm x Tn, one thread block
per tile; a partial tile at the edge costs as much as a full one (tile quantization), and the
ceil(tiles / SMs) waves of blocks all take as long as a full wave (wave quantization). So

    compute = ceil(ceil(M/Tm) ceil(N/Tn) batch / SMs) x 2 Tm Tn K / (peak / SMs x eta)

with eta the ONE fitted constant of the generation (``[fitted] matmul_efficiency``: what a full
wave of full tiles reaches of the datasheet peak), taken over the large tile shapes of CUTLASS 3 /
cuBLAS (``TILES``; the library's heuristic is assumed to pick the fastest); the kernel is at least its bytes (A, B read
and C written once) over the bandwidth x 0.9 (kipply 2022: the best HBM efficiency profiled, the
roofline module's default), and the time is the larger of the two (Williams et al. 2009).

Attention (Dao 2023, FlashAttention-2): 4 d FLOPs per (query, key) pair over the exact causal pairs,
at the published efficiency of the kernel on the generation (Shah et al. 2024, FlashAttention-3,
abstract: FlashAttention-2 reaches 35% of the H100's peak; Dao 2023 sec. 4.1: up to 73% on A100),
or its I/O (Q, K, V read, O written; Dao et al. 2022 Theorem 2's lower end) over the bandwidth x 0.9;
a generation without a published figure uses the matmul efficiency.
``kv_copies`` > 1 reads K and V expanded to every query head (an engine that repeats them, e.g.
transformers' ``repeat_kv``).

Launch (``run``): the host issues kernel k after kernel k-1 (``host_s`` apart); the GPU runs them
in order, each starting when issued and when the previous one ended:
    issued_k = issued_{k-1} + host_s,  end_k = max(issued_k, end_{k-1}) + gpu_k.
Small kernels are then bound by the host, large ones hide it. ``eager`` (PyTorch eager: Python,
dispatcher, cudaLaunchKernel per op): 4 us per op ("4 us per op on CUDA", pytorch/pytorch#82793,
A100, PyTorch 1.12); ``graphs`` (CUDA graphs replay the whole pass: vLLM, TensorRT-LLM,
torch.compile mode="reduce-overhead"): 875 ns per kernel (CUDA.jl documentation, "Graphs": 80
small kernels in 70 us as a graph, 260 us launched one by one).

Exact rationals; floats only where a figure is shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from ...dtypes import compute_dtype, dtype_bytes
from ...errors import WorkloadError
from ...spec.hardware import Hardware
from ..workload import positive

MEMORY_EFFICIENCY = Fraction(9, 10)  # kipply 2022 (the roofline module's DEFAULT_MEMORY)
# The tile shapes that reach the fitted efficiency: CUTLASS 3's Hopper warp-specialized GEMMs
# (128x128, 128x256, 256x128; the User's Guide's examples use 256x128 and 128x128), and a 64-row tile
# (one warpgroup's wgmma M = 64) only when M <= 64: smaller tiles reuse less data per load (the
# guide's "Dimension Quantization Effects": larger tiles are more efficient), so they are not offered.
TILES = ((128, 256), (256, 128), (128, 128))
SMALL_M_TILE = (64, 128)
ATTENTION_EFFICIENCY = {
    "hopper": (Fraction(35, 100), "Shah et al. 2024 (FlashAttention-3), abstract: FlashAttention-2 reaches 35% of H100 peak"),
    "ampere": (Fraction(73, 100), "Dao 2023 (FlashAttention-2) sec. 4.1: up to 73% of A100 peak"),
}


@dataclass(frozen=True)
class Engine:
    name: str
    host_s: Fraction  # host time to issue one kernel (eager) / per-kernel launch in a replayed graph
    source: str


ENGINES = {
    "eager": Engine("eager", Fraction(4, 10**6), "PyTorch eager, 4 us per op (pytorch/pytorch#82793)"),
    "graphs": Engine("graphs", Fraction(875, 10**9), "CUDA graphs, 875 ns per kernel (CUDA.jl docs, 'Graphs': 80 "
                                                     "kernels in 70 us)"),
}


def engine(name: str | Engine) -> Engine:
    if isinstance(name, Engine):
        return name
    if name not in ENGINES:
        raise WorkloadError(f"unknown kernel engine {name!r}; use one of {', '.join(ENGINES)}")
    return ENGINES[name]


@dataclass(frozen=True)
class Kernel:
    name: str
    kind: str  # matmul | attention | memory
    flops: int
    bytes: int
    compute_s: Fraction
    memory_s: Fraction
    tile: tuple[int, int] | None = None
    tiles: int = 0
    waves: int = 0
    utilization: Fraction = Fraction(1)  # useful / launched tile work (tile and wave quantization)

    @property
    def time(self) -> Fraction:
        """GPU time of the kernel alone (no launch)."""
        return max(self.compute_s, self.memory_s)

    def alone(self, eng: str | Engine = "eager") -> Fraction:
        """Issued by itself: the host's launch, then the GPU's work."""
        return engine(eng).host_s + self.time


def matmul_efficiency(hw: Hardware) -> Fraction:
    """The generation's fitted constant (``[fitted] matmul_efficiency``)."""
    eta = hw.fitted.get("matmul_efficiency") if hw.fitted else None
    if eta is None:
        raise WorkloadError(f"{hw.name}: no fitted matmul_efficiency ([fitted] in the hardware file; "
                            "core/time/fitting.py fits it on one measured pass)")
    return eta


def _sms(hw: Hardware) -> int:
    if not hw.sm_count:
        raise WorkloadError(f"{hw.name}: no sm_count in the hardware file (tile and wave quantization need it)")
    return hw.sm_count


def matmul(m: int, n: int, k: int, dtype: str, hw: Hardware, *, batch: int = 1, name: str = "matmul",
           efficiency: Fraction | None = None) -> Kernel:
    """``batch`` products of (M x K) by (K x N) in one kernel, the fastest tile shape (module docstring)."""
    for label, v in (("M", m), ("N", n), ("K", k), ("batch", batch)):
        positive(f"matmul {label}", v)
    sms, peak = _sms(hw), hw.peak(compute_dtype(dtype))
    eta = matmul_efficiency(hw) if efficiency is None else efficiency
    b = dtype_bytes(dtype)
    nbytes = batch * (m * k + k * n + m * n) * b
    mem = nbytes / (hw.memory_bytes_per_s * MEMORY_EFFICIENCY)
    flops = 2 * m * n * k * batch
    best: Kernel | None = None
    for tm, tn in TILES + ((SMALL_M_TILE,) if m <= SMALL_M_TILE[0] else ()):
        tiles = -(-m // tm) * -(-n // tn) * batch
        waves = -(-tiles // sms)
        compute = waves * Fraction(2 * tm * tn * k * sms) / (peak * eta)
        kern = Kernel(name, "matmul", flops, _ceil(nbytes), compute, mem, (tm, tn), tiles, waves,
                      Fraction(flops, waves * sms * 2 * tm * tn * k))
        if best is None or (kern.time, -kern.utilization) < (best.time, -best.utilization):
            best = kern
    return best


def attention(batch: int, heads: int, q_len: int, k_len: int, d_head: int, causal: bool, dtype: str, hw: Hardware,
              *, kv_heads: int | None = None, kv_copies: int = 1, name: str = "attention") -> Kernel:
    """One flash-style attention kernel: ``q_len`` queries per sequence over ``k_len`` keys (the
    queries are the last ``q_len`` positions: causal pairs counted exactly, diagonal included)."""
    for label, v in (("batch", batch), ("heads", heads), ("query length", q_len), ("key length", k_len),
                     ("head dim", d_head), ("kv copies", kv_copies)):
        positive(f"attention {label}", v)
    if q_len > k_len:
        raise WorkloadError(f"attention: {q_len} queries over {k_len} keys")
    kvh = heads if kv_heads is None else kv_heads
    if kvh < 1 or heads % kvh:
        raise WorkloadError(f"attention: {heads} query heads do not share {kvh} key/value heads evenly")
    if causal:  # query i (0-based among the last q_len) sees k_len - q_len + i + 1 keys
        pairs = q_len * (k_len - q_len) + q_len * (q_len + 1) // 2
    else:
        pairs = q_len * k_len
    flops = 4 * d_head * pairs * batch * heads
    b = dtype_bytes(dtype)
    nbytes = batch * (2 * heads * q_len + 2 * kvh * kv_copies * k_len) * d_head * b
    gen = ATTENTION_EFFICIENCY.get(hw.generation)
    eff = gen[0] if gen else matmul_efficiency(hw)
    compute = Fraction(flops) / (hw.peak(compute_dtype(dtype)) * eff)
    return Kernel(name, "attention", flops, _ceil(nbytes), compute, nbytes / (hw.memory_bytes_per_s * MEMORY_EFFICIENCY))


def memory(nbytes: int | Fraction, hw: Hardware, *, name: str = "memory") -> Kernel:
    """A memory-bound kernel (element-wise, copy, reduction) moving ``nbytes`` in all."""
    nbytes = Fraction(nbytes)
    if nbytes < 0:
        raise WorkloadError("a kernel moves a non-negative number of bytes")
    return Kernel(name, "memory", 0, _ceil(nbytes), Fraction(0), nbytes / (hw.memory_bytes_per_s * MEMORY_EFFICIENCY))


def matmul_time(m: int, n: int, k: int, dtype: str, hw: Hardware, eng: str | Engine = "eager") -> Fraction:
    """One matmul issued alone: launch + GPU time (seconds, exact)."""
    return matmul(m, n, k, dtype, hw).alone(eng)


def attention_time(batch: int, heads: int, q_len: int, k_len: int, d_head: int, causal: bool, hw: Hardware,
                   dtype: str = "bf16", eng: str | Engine = "eager", kv_heads: int | None = None) -> Fraction:
    """One attention kernel issued alone: launch + GPU time (seconds, exact)."""
    return attention(batch, heads, q_len, k_len, d_head, causal, dtype, hw, kv_heads=kv_heads).alone(eng)


@dataclass(frozen=True)
class PassEstimate:
    time: Fraction  # seconds, the last kernel's end
    gpu: Fraction  # the kernels' GPU time together
    host: Fraction  # the launches together
    kernels: int
    engine: Engine
    efficiency: Fraction  # the fitted constant used
    fitted_on: str

    @property
    def host_bound(self) -> Fraction:
        """Share of the pass the GPU waits on the host."""
        return 1 - self.gpu / self.time if self.time else Fraction(0)


def run(kernels: list[Kernel], hw: Hardware, eng: str | Engine = "eager") -> PassEstimate:
    """Kernels issued one after another by the host and run in order on the GPU (module docstring)."""
    e = engine(eng)
    issued = end = gpu = Fraction(0)
    for kern in kernels:
        issued += e.host_s
        end = max(issued, end) + kern.time
        gpu += kern.time
    fitted = hw.fitted.fitted_on if hw.fitted else ""
    return PassEstimate(end, gpu, e.host_s * len(kernels), len(kernels), e, matmul_efficiency(hw), fitted)


def _ceil(x: Fraction) -> int:
    return -(-x.numerator // x.denominator)
