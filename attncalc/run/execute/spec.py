"""What one executed workload is: RunSpec, its validation, its seeded inputs, and RunResult.

Conventions of the executed block: no biases; weights ~ N(0, 1/fan_in), inputs ~ N(0, 1);
with ``layers > 1`` the block is applied ``layers`` times in sequence with the same weights
(the output of one is the input of the next), which times ``layers`` blocks without holding
``layers`` sets of weights. Masking: causal keeps keys j <= i; ``window`` w keeps
i - w < j <= i when causal and |i - j| < w when not.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from ...errors import WorkloadError

DTYPES = {"float32": np.float32, "float64": np.float64}


def normalize_dtype(name: str) -> str:
    """float32 or float64 from any spelling `count` takes for fp32/fp64 (core.memory.DTYPES:
    fp32, float32, f32, single; fp64, float64, f64, double; any case, "-" and "_" ignored).

    Other types `count` knows (bf16, fp16, fp8, int8, int4) are refused with the reason: the
    kernel executes float32 and float64 only (NumPy has no bfloat16, and the BLAS gemm it calls
    is sgemm or dgemm). tf32, which `count` stores as 4 bytes, is refused too: the kernel
    computes full float32, not TF32's 10-bit mantissa.
    """
    from ...dtypes import canonical_dtype
    from ...errors import shown

    key = str(name).strip().lower().replace("-", "").replace("_", "")
    if key == "tf32":
        raise WorkloadError("--dtype tf32: the kernel computes full float32 (sgemm), not TF32; "
                            "use fp32")
    try:
        canon = canonical_dtype(name)
    except WorkloadError:
        raise WorkloadError(f"--dtype {shown(name)}: unknown; run takes fp32 (float32, f32, "
                            "single) or fp64 (float64, f64, double)") from None
    if canon in ("fp32", "fp64"):
        return "float32" if canon == "fp32" else "float64"
    raise WorkloadError(
        f"--dtype {shown(name)}: the kernel executes float32 or float64 only (sgemm/dgemm); "
        f"{canon} can be counted (`attncalc count --dtype {canon}`), not run"
    )


@dataclass
class RunSpec:
    """One executed workload: the attention block's shape and how to run it."""

    batch: int
    seq: int
    d_model: int
    n_heads: int
    n_kv_heads: int
    d_head: int
    causal: bool = True
    window: int | None = None
    dtype: str = "float32"
    layers: int = 1
    repeat: int = 5
    warmup: int = 1
    threads: int | None = None
    check: bool = True
    max_memory: int | None = None
    seed: int = 0


@dataclass
class RunResult:
    """Timings (seconds, of all ``layers`` blocks), memory (bytes) and checks of one run."""

    median_s: float
    min_s: float
    max_s: float
    times: list[float]
    compile_s: float  # first call, apart from the timings (0.0 when already compiled in-process)
    cached: bool  # True when no compilation happened: loaded from numba's cache (or in memory)
    threads: int
    peak_memory_bytes: int  # peak RSS added over the baseline taken before inputs existed
    estimated_bytes: int
    sgemm_gflops: float | None
    max_rel_error: float | None  # max|y - y_ref| / max|y_ref| on the checked rows, or None
    tolerance: float | None = None
    check_passed: bool | None = None
    blas_backend: str = ""
    spec: dict = field(default_factory=dict)
    blas: str = ""  # which BLAS library and version the kernel's gemm calls
    threading_layer: str = ""  # numba's threading layer in use
    sgemm_samples: list[float] = field(default_factory=list)
    sgemm_spread: float | None = None  # (max - min) / median of the probe's samples
    sgemm_numpy_gflops: float | None = None  # NumPy's matmul on ``threads`` threads
    sgemm_kernel_gflops: float | None = None  # the kernel's BLAS, row panels on its threads
    cache_dir: str | None = None  # where numba caches the compiled kernel (None: nowhere)
    layout: dict = field(default_factory=dict)  # the kernel's decomposition (see layout.py)
    warnings: list[str] = field(default_factory=list)  # for stderr: noisy probe, cache fallback

    def as_dict(self) -> dict:
        return asdict(self)


def _positive(name: str, value, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise WorkloadError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def validate(spec: RunSpec) -> None:
    """Raise WorkloadError (one line) for a shape or option that cannot be run."""
    for name in ("batch", "seq", "d_model", "n_heads", "n_kv_heads", "d_head", "layers",
                 "repeat"):
        _positive(name, getattr(spec, name))
    _positive("warmup", spec.warmup, 0)
    if spec.n_heads % spec.n_kv_heads:
        raise WorkloadError(
            f"n_heads ({spec.n_heads}) must be a multiple of n_kv_heads ({spec.n_kv_heads})"
        )
    if spec.window is not None:
        _positive("window", spec.window)
    if spec.threads is not None:
        _positive("threads", spec.threads)
    if spec.max_memory is not None:
        _positive("max_memory", spec.max_memory)
    if spec.dtype not in DTYPES:
        spec.dtype = normalize_dtype(spec.dtype)  # fp32 -> float32; bf16 etc. refused


@dataclass
class Weights:
    w_q: np.ndarray  # [d_model, n_heads * d_head]
    w_k: np.ndarray  # [d_model, n_kv_heads * d_head]
    w_v: np.ndarray
    w_o: np.ndarray  # [n_heads * d_head, d_model]


def make_inputs(spec: RunSpec) -> tuple[np.ndarray, Weights]:
    """Seeded X [batch, seq, d_model] ~ N(0, 1) and weights ~ N(0, 1/fan_in)."""
    dt = DTYPES[spec.dtype]
    rng = np.random.default_rng(spec.seed)
    d, hd, kvd = spec.d_model, spec.n_heads * spec.d_head, spec.n_kv_heads * spec.d_head

    def normal(shape, std):
        a = rng.standard_normal(shape, dtype=dt)
        a *= a.dtype.type(std)
        return a

    x = normal((spec.batch, spec.seq, d), 1.0)
    w = Weights(normal((d, hd), d**-0.5), normal((d, kvd), d**-0.5), normal((d, kvd), d**-0.5),
                normal((hd, d), hd**-0.5))
    return x, w
