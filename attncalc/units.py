"""Human units: format exact integers for reading (1.57M, 174.6B, 12.5 GiB) and parse them back.

Parsing is exact: "7B" is 7 * 10**9 and "300e9" is 300 * 10**9 as Python ints (via Decimal, never a
float), so budgets and token counts past 2**53 stay exact.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

_SI = [(10**15, "P"), (10**12, "T"), (10**9, "B"), (10**6, "M"), (10**3, "K")]
_FLOP_SI = [(10**24, "Y"), (10**21, "Z"), (10**18, "E"), (10**15, "P"), (10**12, "T"), (10**9, "G"),
            (10**6, "M"), (10**3, "K")]
_BIN = [(2**50, "PiB"), (2**40, "TiB"), (2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")]
_SUFFIX = {
    "": 1, "k": 10**3, "K": 10**3, "M": 10**6, "B": 10**9, "G": 10**9, "T": 10**12, "P": 10**15,
    "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12, "PB": 10**15,
    "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40, "PiB": 2**50,
}
_NUMBER = re.compile(r"^\s*([0-9][0-9_,]*(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?)\s*([A-Za-z]*)\s*$")


def _scaled(n: int | float, table: list[tuple[int, str]], sep: str = "") -> str:
    for scale, suffix in table:
        if abs(n) >= scale:
            x = n / scale
            return f"{x:.1f}{sep}{suffix}" if abs(x) >= 100 else f"{x:.2f}{sep}{suffix}"
    return f"{n:,}" if isinstance(n, int) else f"{n:.3g}"


def human(n: int) -> str:
    """1,572,864 -> '1.57M'; 174,604,259,328 -> '174.6B'."""
    return _scaled(n, _SI)


def human_flops(n: int | float) -> str:
    """FLOPs with SI prefixes (GFLOP, TFLOP…); past 10**27 in scientific notation."""
    if abs(n) >= 10**27:
        return f"{float(n):.3e} FLOP"
    return _scaled(n, _FLOP_SI, " ") + ("FLOP" if abs(n) >= 1000 else " FLOP")


def human_bytes(n: int) -> str:
    return _scaled(n, _BIN, " ") if abs(n) >= 1024 else f"{n} B"


def parse_quantity(text: str, *, what: str = "value") -> int:
    """'7B' -> 7_000_000_000, '4GiB' -> 4 * 2**30, '300e9' -> 300_000_000_000, '1,024' -> 1024.

    Raises ValueError naming the problem; the result must be a whole number.
    """
    m = _NUMBER.match(str(text))
    if not m or m.group(2) not in _SUFFIX:
        raise ValueError(
            f"cannot read {text!r} as a {what}: use a number with an optional unit such as 7B, 1e9, 4GiB, 500M"
        )
    try:
        value = Decimal(m.group(1).replace(",", "").replace("_", "")) * _SUFFIX[m.group(2)]
    except InvalidOperation:
        raise ValueError(f"cannot read {text!r} as a {what}") from None
    if value != value.to_integral_value():
        raise ValueError(f"{text!r} is not a whole number of {what}s")
    return int(value)


def parse_fraction(text: str) -> Decimal:
    """'0.5%' -> Decimal('0.005'); '0.01' -> Decimal('0.01')."""
    t = str(text).strip()
    try:
        return Decimal(t[:-1]) / 100 if t.endswith("%") else Decimal(t)
    except InvalidOperation:
        raise ValueError(f"cannot read {text!r} as a tolerance: use 0.5% or 0.005") from None
