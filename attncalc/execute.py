"""Execute one attention block at a shape and time it (``attncalc run``'s engine).

``run_attention(spec)`` builds seeded random inputs and weights, compiles (or loads from
numba's cache) the kernel of :mod:`attncalc.kernels`, runs warm-up and timed repeats, measures
the peak memory the workload added, probes the same machine's BLAS sgemm throughput, and
checks the output against :func:`reference_attention`, a plain NumPy implementation.

Nothing heavy happens before the memory guard: :func:`estimate_bytes` is arithmetic on the
shape, compared with MemAvailable (or ``max_memory``) before numba is imported or an array is
allocated. FLOP counts are not computed here: they come from the counting core.

Conventions of the executed block: no biases; weights ~ N(0, 1/fan_in), inputs ~ N(0, 1);
with ``layers > 1`` the block is applied ``layers`` times in sequence with the same weights
(the output of one is the input of the next), which times ``layers`` blocks without holding
``layers`` sets of weights. Masking: causal keeps keys j <= i; ``window`` w keeps
i - w < j <= i when causal and |i - j| < w when not.
"""

from __future__ import annotations

import math
import os
import statistics
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

# OpenBLAS threads spin for a while after each multi-threaded call (2^28 cycles by default)
# and steal cycles from the kernel's threads, which call BLAS single-threaded; let them sleep
# at once. Read when OpenBLAS loads (NumPy's first import), so it only helps when this module
# is imported first, as ``attncalc run`` does; an explicit setting is kept.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

import numpy as np

from . import sysinfo
from .errors import WorkloadError

# Tile sizes of the kernel: query rows per task, keys per score tile.
BLOCK_Q = 128
BLOCK_K = 256
# Heads per step (see step_plan): product width aimed at, and buffer budget as a fraction of
# inputs + weights + outputs.
STEP_COLS = 512
STEP_BUDGET = 0.25
STEP_FLOOR = 16 << 20  # bytes: buffers this small are always allowed

# Check tolerances on max|y - y_ref| / max|y_ref| (y_ref computed in float64).
RTOL = {"float32": 2e-4, "float64": 1e-10}
CHECK_ROWS = 48  # query rows checked per checked batch item (first, middle and last 16)

_DTYPES = {"float32": np.float32, "float64": np.float64}


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

    def as_dict(self) -> dict:
        return asdict(self)


# --- validation and the memory guard ------------------------------------------------------------


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
    if spec.dtype not in _DTYPES:
        raise WorkloadError(f"dtype must be one of {', '.join(_DTYPES)}, got {spec.dtype!r}")


def _threads(spec: RunSpec) -> int:
    if spec.threads is not None:
        return spec.threads
    env = os.environ.get("NUMBA_NUM_THREADS")
    return int(env) if env and env.isdigit() else sysinfo.cpu_count()


def _check_extra_bytes(spec: RunSpec) -> int:
    """Float64 working set of the reference check: K, V of one sequence, scores of its rows."""
    kvd = spec.n_kv_heads * spec.d_head
    rows = min(spec.seq, CHECK_ROWS)
    return 8 * (
        2 * spec.seq * kvd  # K, V
        + spec.seq * spec.d_model  # the sequence's inputs
        + 3 * rows * spec.seq  # scores, mask, probabilities of one head
        + rows * (2 * spec.n_heads * spec.d_head + 2 * spec.d_model)
    )


def estimate_bytes(spec: RunSpec) -> int:
    """Bytes the run will allocate, from the shape alone (exact for the arrays it makes).

    Inputs X, outputs Y (and a second activation buffer when ``layers > 1``), the four weight
    matrices, one step's Q, K, V and C buffers (see :func:`step_plan`), per-thread tile scratch, and the reference check's
    float64 working set when ``check``. Linear in ``seq``: no S x S term (the check's score
    rows are at most ``CHECK_ROWS`` x seq). Not included: the interpreter, numba and LLVM
    themselves (a first compile can take a few hundred MiB transiently).
    """
    validate(spec)
    isz = np.dtype(_DTYPES[spec.dtype]).itemsize
    rows = spec.batch * spec.seq
    hd = spec.n_heads * spec.d_head
    kvd = spec.n_kv_heads * spec.d_head
    d = spec.d_model
    workers = _threads(spec)
    kh, kg = step_plan(spec)
    activations = rows * d * (2 + (1 if spec.layers > 1 else 0))
    weights = 2 * d * hd + 2 * d * kvd
    steps = 2 * spec.seq * spec.d_head * (kh + kg)  # Q, C and K, V of one step
    scratch = workers * (BLOCK_Q * BLOCK_K + 2 * BLOCK_Q)
    total = isz * (activations + weights + steps + scratch)
    total += 16 * (spec.seq // BLOCK_Q + 1) * kh + 64  # task lists, counters
    if spec.check:
        total += _check_extra_bytes(spec)
    return int(total)


def check_memory(spec: RunSpec) -> int:
    """The memory guard: the estimate, or WorkloadError when it exceeds the limit."""
    need = estimate_bytes(spec)
    if spec.max_memory is not None:
        limit, what = spec.max_memory, "the --max-memory limit"
    else:
        limit, what = sysinfo.available_memory(), "available memory"
    if limit is not None and need > limit:
        raise WorkloadError(
            f"this run needs about {need / sysinfo.GiB:.2f} GiB, more than {what} "
            f"({limit / sysinfo.GiB:.2f} GiB); lower --heads, --seq or --batch"
        )
    return need


# --- inputs, tasks ----------------------------------------------------------------------------------


@dataclass
class Weights:
    w_q: np.ndarray  # [d_model, n_heads * d_head]
    w_k: np.ndarray  # [d_model, n_kv_heads * d_head]
    w_v: np.ndarray
    w_o: np.ndarray  # [n_heads * d_head, d_model]


def make_inputs(spec: RunSpec) -> tuple[np.ndarray, Weights]:
    """Seeded X [batch, seq, d_model] ~ N(0, 1) and weights ~ N(0, 1/fan_in)."""
    dt = _DTYPES[spec.dtype]
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


def _key_range(i: int, seq: int, causal: bool, window: int | None) -> tuple[int, int]:
    if causal:
        return (max(0, i - window + 1) if window else 0), i + 1
    if window:
        return max(0, i - window + 1), min(seq, i + window)
    return 0, seq


def step_plan(spec: RunSpec) -> tuple[int, int]:
    """(heads per step kh, kv groups per step kg): how many heads one pass of the kernel takes.

    The kernel projects Q (and K, V) for kh heads of every row in one product, runs their
    attention, then adds their share of the output projection; its buffers are
    S x kh*d_head (Q, C) and S x kg*d_head (K, V). Wider steps make those products wider
    (closer to BLAS peak; little gain past ``STEP_COLS`` columns) and the buffers bigger: kh is
    the widest divisor of n_heads that keeps kh*d_head <= STEP_COLS and the buffers within
    ``STEP_BUDGET`` of inputs + weights + outputs (always at least one head). kh either divides
    the group size or is a multiple of it, so a step never splits a kv group's heads unevenly.
    """
    isz = np.dtype(_DTYPES[spec.dtype]).itemsize
    h, kvh, dh = spec.n_heads, spec.n_kv_heads, spec.d_head
    group = h // kvh
    s, d = spec.seq, spec.d_model
    io = isz * (2 * spec.batch * s * d + 2 * d * dh * (h + kvh))
    best = (1, 1)
    for kh in range(1, h + 1):
        if h % kh or (kh % group and group % kh):
            continue
        kg = max(1, kh // group)
        buf = isz * s * dh * (2 * kh + 2 * kg)
        if kh > 1 and (kh * dh > STEP_COLS or buf > max(STEP_BUDGET * io, STEP_FLOOR)):
            continue
        best = (kh, kg)
    return best


def plan_tasks(spec: RunSpec, kh: int) -> tuple[np.ndarray, np.ndarray]:
    """The core's tasks of one step: (local head, first query row) of each query tile.

    Ordered costliest first (causal tiles near the end of the sequence see more keys), which
    the kernel's work queue turns into longest-processing-time-first scheduling.
    """
    s = spec.seq
    tiles = []
    for i0 in range(0, s, BLOCK_Q):
        nq = min(BLOCK_Q, s - i0)
        lo = _key_range(i0, s, spec.causal, spec.window)[0]
        hi = _key_range(i0 + nq - 1, s, spec.causal, spec.window)[1]
        keys = -(-(hi - lo) // BLOCK_K) * BLOCK_K  # whole key tiles
        tiles.append((nq * keys, i0))
    tasks = sorted(((cost, hl, i0) for hl in range(kh) for cost, i0 in tiles),
                   key=lambda t: (-t[0], t[1], t[2]))
    return (np.array([t[1] for t in tasks], np.int64), np.array([t[2] for t in tasks], np.int64))


def block_rows(seq: int, workers: int) -> int:
    """Rows per chunk of the projection phases: 256, or an even split for short sequences.

    Chunks of 256 rows keep each single-threaded product near BLAS peak and leave the work
    queue enough chunks to even out threads that the machine slows down.
    """
    rows = -(-seq // workers)
    return max(16, min(256, -(-rows // 16) * 16))


class _Block:
    """Buffers and scratch for one shape; ``__call__(x, out)`` runs one block."""

    def __init__(self, spec: RunSpec, weights: Weights, workers: int):
        from . import kernels

        self.k = kernels
        self.spec, self.w = spec, weights
        dt = _DTYPES[spec.dtype]
        s, dh = spec.seq, spec.d_head
        self.kh, kg = step_plan(spec)
        self.q_buf = np.empty((s, self.kh * dh), dt)
        self.c_buf = np.empty((s, self.kh * dh), dt)
        self.k_buf = np.empty((s, kg * dh), dt)
        self.v_buf = np.empty((s, kg * dh), dt)
        self.task_head, self.task_row = plan_tasks(spec, self.kh)
        self.rows = block_rows(s, workers)
        self.block_q, self.block_k = BLOCK_Q, BLOCK_K
        self.s_scr = np.empty((workers, BLOCK_Q, BLOCK_K), dt)
        self.m_scr = np.empty((workers, BLOCK_Q), dt)
        self.l_scr = np.empty((workers, BLOCK_Q), dt)
        self.counters = np.zeros(3, np.int64)

    def __call__(self, x: np.ndarray, out: np.ndarray) -> None:
        s, w = self.spec, self.w
        d = s.d_model
        self.k.attention_block(
            x.reshape(-1, d), w.w_q, w.w_k, w.w_v, w.w_o, out.reshape(-1, d), self.q_buf,
            self.k_buf, self.v_buf, self.c_buf, self.s_scr, self.m_scr, self.l_scr, s.seq,
            s.n_heads, s.n_kv_heads, self.kh, bool(s.causal), int(s.window or 0),
            self.block_q, self.block_k, self.rows, self.task_head, self.task_row, self.counters,
        )


def _compile(dtype: str) -> tuple[float, bool]:
    """Compile (or load from cache) the kernel for ``dtype`` on a tiny shape: (seconds, cached)."""
    from . import kernels

    fn = kernels.attention_block
    before = len(fn.signatures)
    hits_before = sum(fn.stats.cache_hits.values())
    tiny = RunSpec(batch=1, seq=3, d_model=4, n_heads=2, n_kv_heads=1, d_head=2, dtype=dtype,
                   check=False)
    x, w = make_inputs(tiny)
    block = _Block(tiny, w, 1)
    t0 = time.perf_counter()
    with sysinfo.blas_threads(1):
        block(x, np.empty_like(x))
    elapsed = time.perf_counter() - t0
    if len(fn.signatures) == before:  # already compiled in this process
        return 0.0, True
    return elapsed, sum(fn.stats.cache_hits.values()) > hits_before


# --- reference --------------------------------------------------------------------------------------


def reference_attention(x: np.ndarray, weights: Weights, n_heads: int, n_kv_heads: int,
                        d_head: int, causal: bool = True, window: int | None = None,
                        rows: np.ndarray | None = None) -> np.ndarray:
    """Plain NumPy attention block for one sequence x [seq, d_model] (for checking only).

    Materialises the scores of the requested query ``rows`` (default: all) against every key,
    masks with -inf, softmax, weighted sum, output projection. Computed in x's dtype; pass
    float64 arrays for a reference to check float32 against. Returns y[rows].
    """
    seq = x.shape[0]
    if rows is None:
        rows = np.arange(seq)
    rows = np.asarray(rows)
    group = n_heads // n_kv_heads
    q = (x[rows] @ weights.w_q) * x.dtype.type(1.0 / math.sqrt(d_head))
    k = x @ weights.w_k
    v = x @ weights.w_v
    j = np.arange(seq)
    i = rows[:, None]
    keep = np.ones((len(rows), seq), bool)
    if causal:
        keep &= j[None, :] <= i
    if window:
        keep &= (i - j[None, :]) < window
        if not causal:
            keep &= (j[None, :] - i) < window
    o = np.empty((len(rows), n_heads * d_head), x.dtype)
    for h in range(n_heads):
        g = h // group
        qs = q[:, h * d_head:(h + 1) * d_head]
        ks = k[:, g * d_head:(g + 1) * d_head]
        vs = v[:, g * d_head:(g + 1) * d_head]
        scores = np.where(keep, qs @ ks.T, -np.inf)
        scores -= scores.max(axis=1, keepdims=True)
        p = np.exp(scores)
        p /= p.sum(axis=1, keepdims=True)
        o[:, h * d_head:(h + 1) * d_head] = p @ vs
    return o @ weights.w_o


def check_rows(seq: int) -> np.ndarray:
    """The query rows the check compares: first, middle and last CHECK_ROWS // 3."""
    if seq <= CHECK_ROWS:
        return np.arange(seq)
    n = CHECK_ROWS // 3
    mid = seq // 2 - n // 2
    return np.concatenate([np.arange(n), np.arange(mid, mid + n), np.arange(seq - n, seq)])


def max_rel_error(spec: RunSpec, x: np.ndarray, weights: Weights, y: np.ndarray) -> float:
    """max|y - y_ref| / max|y_ref| over the checked rows of the first and last batch item."""
    w64 = Weights(*(a.astype(np.float64) for a in (weights.w_q, weights.w_k, weights.w_v,
                                                     weights.w_o)))
    rows = check_rows(spec.seq)
    err = scale = 0.0
    for b in sorted({0, spec.batch - 1}):
        ref = reference_attention(x[b].astype(np.float64), w64, spec.n_heads, spec.n_kv_heads,
                                  spec.d_head, spec.causal, spec.window, rows)
        err = max(err, float(np.abs(y[b, rows].astype(np.float64) - ref).max()))
        scale = max(scale, float(np.abs(ref).max()))
    return err / scale if scale > 0 else err


# --- sgemm probe ------------------------------------------------------------------------------------


def sgemm_probe(threads: int | None = None, target_s: float = 0.2, repeats: int = 3) -> float:
    """GFLOP/s of NumPy's float32 square matmul sized to take about ``target_s`` seconds.

    Calibrated on a 1024^3 product, then ``repeats`` timed products of side n (a multiple of
    256); returns the median. BLAS runs on ``threads`` threads (default: as configured).
    """
    with sysinfo.blas_threads(threads):
        rng = np.random.default_rng(0)
        a = rng.standard_normal((1024, 1024), dtype=np.float32)
        c = np.empty_like(a)
        np.matmul(a, a, out=c)
        t0 = time.perf_counter()
        np.matmul(a, a, out=c)
        rate = 2 * 1024**3 / max(time.perf_counter() - t0, 1e-6)
        n = int(round((target_s * rate / 2) ** (1 / 3) / 256)) * 256
        n = min(max(n, 512), 8192)
        a = rng.standard_normal((n, n), dtype=np.float32)
        b = rng.standard_normal((n, n), dtype=np.float32)
        c = np.empty_like(a)
        np.matmul(a, b, out=c)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            np.matmul(a, b, out=c)
            times.append(time.perf_counter() - t0)
    return 2 * n**3 / statistics.median(times) / 1e9


# --- the run ------------------------------------------------------------------------------------------


def _set_threads(spec: RunSpec) -> int:
    import numba

    n = spec.threads if spec.threads is not None else numba.config.NUMBA_NUM_THREADS
    if n > numba.config.NUMBA_NUM_THREADS:
        raise WorkloadError(
            f"threads ({n}) exceeds numba's maximum of {numba.config.NUMBA_NUM_THREADS} "
            "(set NUMBA_NUM_THREADS to allow more)"
        )
    numba.set_num_threads(n)
    return n


def run_attention(spec: RunSpec, progress: Callable[[str], None] | None = None,
                  probe: bool = True) -> RunResult:
    """Run the attention block ``spec.repeat`` times after ``spec.warmup`` and report.

    Order: memory guard; compile (timed apart); peak-memory baseline; inputs; warm-up; timed
    repeats (BLAS at one thread: the kernel calls it from its own threads); peak memory;
    sgemm probe (BLAS at ``threads``) unless ``probe`` is False; check against the reference.
    A KeyboardInterrupt between kernel calls propagates after BLAS threads are restored.
    """
    say = progress or (lambda _msg: None)
    estimated = check_memory(spec)  # before numba is imported or anything is allocated

    say("loading the kernel")
    from . import kernels

    threads = _set_threads(spec)
    say("compiling the kernel (cached after the first run)")
    compile_s, cached = _compile(spec.dtype)

    sysinfo.reset_peak_rss()
    base = sysinfo.current_rss()
    if base is None:
        base = sysinfo.peak_rss()
    say("allocating inputs and weights")
    x, weights = make_inputs(spec)
    out = np.empty_like(x)
    spare = np.empty_like(x) if spec.layers > 1 else None
    block = _Block(spec, weights, threads)

    def forward() -> np.ndarray:
        src, dst = x, out
        for layer in range(spec.layers):
            block(src, dst)
            if layer + 1 < spec.layers:
                src, dst = dst, (spare if dst is out else out)
        return dst

    times: list[float] = []
    with sysinfo.blas_threads(1):
        for i in range(spec.warmup):
            say(f"warm-up {i + 1}/{spec.warmup}")
            forward()
        for i in range(spec.repeat):
            say(f"repeat {i + 1}/{spec.repeat}")
            t0 = time.perf_counter()
            forward()
            times.append(time.perf_counter() - t0)
        peak = max(0, sysinfo.peak_rss() - base)
        err = tol = passed = None
        if spec.check:
            block(x, out)
    block = spare = None  # free K, V and the scratch before the check
    gflops = None
    if probe:
        say("sgemm probe")
        gflops = sgemm_probe(threads)
    if spec.check:
        say("checking against the NumPy reference")
        err = max_rel_error(spec, x, weights, out)
        tol = RTOL[spec.dtype]
        passed = err <= tol
    return RunResult(
        median_s=statistics.median(times), min_s=min(times), max_s=max(times), times=times,
        compile_s=compile_s, cached=cached, threads=threads, peak_memory_bytes=int(peak),
        estimated_bytes=estimated, sgemm_gflops=gflops, max_rel_error=err, tolerance=tol,
        check_passed=passed, blas_backend=kernels.BLAS_BACKEND, spec=asdict(spec),
    )
