"""What a time estimate is computed on: the hardware, the dtypes, the GPUs, and the efficiencies
the estimate divides the peaks by (a stated convention, or fitted to measurements).

Exact rationals throughout: efficiencies are read as written ('0.6', '60%', '3/5'), never through a
float.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction

from ...dtypes import compute_dtype, dtype_bytes
from ...errors import WorkloadError
from ...spec.hardware import Hardware

# Default efficiencies for `estimate`: the best matmul FLOP and HBM efficiencies kipply observed
# profiling FasterTransformer on A100 ("Transformer Inference Arithmetic", 2022, "Comparing against
# real benchmarks": 0.7 of peak FLOPs, 0.9 of peak bandwidth), as llm-analysis uses them to
# reproduce those measurements.
DEFAULT_COMPUTE = Fraction(7, 10)
DEFAULT_MEMORY = Fraction(9, 10)
DEFAULT_NETWORK = Fraction(1)
DEFAULT_SOURCE = "default: kipply 2022, FasterTransformer on A100 reached 0.7 of peak FLOP/s, 0.9 of peak bandwidth"

@dataclass(frozen=True)
class Efficiency:
    compute: Fraction = DEFAULT_COMPUTE
    memory: Fraction = DEFAULT_MEMORY
    network: Fraction = DEFAULT_NETWORK
    source: str = DEFAULT_SOURCE


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
