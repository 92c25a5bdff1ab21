"""Human units: format exact integers for reading (1.57M, 174.6B, 12.5 GiB) and parse them back.

Parsing is exact: the digits are read into a ``Fraction`` (never a float, never a rounded Decimal),
so "7B" is 7 * 10**9, "1.4T" is 14 * 10**11 and "300e9" is 300 * 10**9 as Python ints, and budgets
past 2**53 (or past 28 significant digits) stay exact. The grammar, on purpose small:

- digits, optionally grouped by ``_`` (``1_000``) or by ``,`` in groups of three (``1,024``,
  ``1,000,000``; ``1,,0`` and ``10,00`` are refused), an optional fraction ``.5`` and an optional
  exponent ``e9`` with ``|exponent| <= MAX_EXPONENT``;
- an optional unit, case-insensitive because every unit here scales a count up (there is no milli
  or bit unit to confuse): k = 10**3, m = 10**6, b or g = 10**9, t = 10**12, p = 10**15, the same
  with a B for bytes (kb, MB, gb, TB, pb) and the binary ki/mi/gi/ti/pi (+B): 2**10 … 2**50.
  So ``7b`` = ``7B`` = 7 * 10**9 and ``4gib`` = ``4GiB``;
- no sign (counts, sizes and tolerances are never negative), no ``nan``/``inf``, at most
  ``MAX_TEXT`` characters and a result at most ``MAX_QUANTITY``.
"""

from __future__ import annotations

import re
from fractions import Fraction

_SI = [(10**15, "P"), (10**12, "T"), (10**9, "B"), (10**6, "M"), (10**3, "K")]
_FLOP_SI = [(10**24, "Y"), (10**21, "Z"), (10**18, "E"), (10**15, "P"), (10**12, "T"), (10**9, "G"),
            (10**6, "M"), (10**3, "K")]
_BIN = [(2**50, "PiB"), (2**40, "TiB"), (2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")]
# Lower-cased unit -> scale (see the module docstring: all units scale up, so case cannot mislead).
_SUFFIX = {
    "": 1, "k": 10**3, "m": 10**6, "b": 10**9, "g": 10**9, "t": 10**12, "p": 10**15,
    "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12, "pb": 10**15,
    "ki": 2**10, "mi": 2**20, "gi": 2**30, "ti": 2**40, "pi": 2**50,
    "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40, "pib": 2**50,
}
MAX_EXPONENT = 60  # 1e60 is already far past any count of parameters, FLOPs or bytes
MAX_QUANTITY = 10**60
MAX_TEXT = 100  # characters in one number
_INT = r"(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+(?:_[0-9]+)*)"
_NUMBER = rf"({_INT})(?:\.([0-9]+(?:_[0-9]+)*)?)?(?:[eE]([+-]?[0-9]+))?\s*([A-Za-z]*)"  # compiled on use
_UNITS_HELP = "use a number with an optional unit such as 7B, 1.4T, 1e9, 4GiB, 500M"


def _exact(text: str, what: str, *, units: bool = True, number: str | None = None) -> tuple[Fraction, str]:
    """The exact value of a number with an optional unit; the unit (lower case) is returned too.

    ``number``: the part of ``text`` to read, when ``text`` (quoted in messages) has more (a %)."""
    t = str(text).strip()
    if len(t) > MAX_TEXT:
        raise ValueError(f"cannot read a {len(t):,}-character text as a {what}: at most {MAX_TEXT} characters")
    shown, t = t, (t if number is None else number)
    low = t.lower().lstrip("+-")
    if low in ("nan", "inf", "infinity") or low.startswith(("nan", "inf")):
        raise ValueError(f"{shown!r} is not a finite {what}")
    if t.startswith("-"):
        raise ValueError(f"{shown!r}: a {what} cannot be negative")
    m = re.fullmatch(_NUMBER, t)
    if not m:
        raise ValueError(f"cannot read {shown!r} as a {what}: {_UNITS_HELP}")
    whole, frac, exp, unit = m.groups()
    unit = unit.lower()
    if unit and (not units or unit not in _SUFFIX):
        raise ValueError(f"cannot read {shown!r} as a {what}: unknown unit {m.group(4)!r}; {_UNITS_HELP}")
    e = int(exp) if exp else 0
    if abs(e) > MAX_EXPONENT:
        raise ValueError(f"{shown!r}: exponent {e} is out of range (at most {MAX_EXPONENT} either way)")
    frac = (frac or "").replace("_", "")
    value = Fraction(int(whole.replace(",", "").replace("_", "") + frac), 10 ** len(frac))
    value *= Fraction(10) ** e
    value *= _SUFFIX[unit]
    if value > MAX_QUANTITY:
        raise ValueError(f"{shown!r} is too large for a {what}: at most 1e{MAX_EXPONENT}")
    return value, unit


def parse_quantity(text: str, *, what: str = "value") -> int:
    """'7B' -> 7_000_000_000, '4GiB' -> 4 * 2**30, '300e9' -> 300_000_000_000, '1,024' -> 1024.

    Raises ValueError naming the problem; the result must be a whole number.
    """
    value, _ = _exact(text, what)
    if value.denominator != 1:
        raise ValueError(f"{str(text).strip()!r} is not a whole number of {what}s")
    return value.numerator


# Sequence lengths, contexts and batches are named in binary thousands: Llama 3.1's "128K" context is
# 131,072 tokens (max_position_embeddings), GPT-4-32k's 32,768, Gemini 1.5's "1M" 1,048,576.
LENGTH_UNITS = {"": 1, "k": 2**10, "ki": 2**10, "m": 2**20, "mi": 2**20}
LENGTH_HELP = "k = 1,024 and M = 1,048,576, as context windows are named (32k = 32,768; 128K = 131,072)"


def parse_length(text: str | int, *, what: str = "token count") -> int:
    """A sequence length, context or batch: '32k' -> 32,768, '128K' -> 131,072, '1M' -> 1,048,576,
    '4096' and '32,768' as written. Exact, whole and bounded like every quantity (``_exact``)."""
    if isinstance(text, int) and not isinstance(text, bool):
        return text
    t = str(text).strip()
    if len(t) <= MAX_TEXT and re.fullmatch(r"[+-]?[0-9]+", t):  # a plain integer, negative ones too: the
        return int(t)  # caller's range check names the option (--context must be an integer >= 0)
    m = re.fullmatch(r"(.*?)\s*([A-Za-z]*)", t)
    number, unit = (m.group(1), m.group(2).lower()) if m else (t, "")
    if unit not in LENGTH_UNITS:
        raise ValueError(f"cannot read {t!r} as a {what}: unknown unit {m.group(2)!r}; {LENGTH_HELP}")
    value, _ = _exact(t, what, units=False, number=number)
    value *= LENGTH_UNITS[unit]
    if value.denominator != 1:
        raise ValueError(f"{t!r} is not a whole number ({what})")
    return value.numerator


_BYTES_HELP = "write 80GiB (2**30 bytes each), 80GB (10**9 bytes each), 512MiB, or '1024 bytes'"


def parse_bytes(text: str, *, what: str = "byte count") -> int:
    """A memory size, which must carry a unit (a bare '80' is not read as 80 bytes): '80GiB',
    '16GB', '512 MiB', or '1024 bytes' for a plain byte count."""
    t = str(text).strip()
    plain = re.fullmatch(r"(.*?)\s*bytes?", t, re.IGNORECASE)
    if plain:
        value, unit = _exact(t, what, units=False, number=plain.group(1))
    else:
        value, unit = _exact(t, what)
        if not unit:
            raise ValueError(f"{t!r} has no unit: {_BYTES_HELP}")
    if value.denominator != 1:
        raise ValueError(f"{t!r} is not a whole number of bytes")
    return value.numerator


def parse_number(text: str, *, what: str = "number") -> Fraction:
    """A non-negative number without a unit, exactly: '1.25' -> Fraction(5, 4); bounded like every
    quantity (exponent within ±60, at most 10**60, at most 100 characters)."""
    value, _ = _exact(text, what, units=False)
    return value


def parse_fraction(text: str) -> Fraction:
    """A non-negative ratio, exactly: '0.5%' -> Fraction(1, 200); '0.01' -> Fraction(1, 100)."""
    t = str(text).strip()
    pct = t.endswith("%")
    try:
        value, _ = _exact(t, "tolerance", units=False, number=t[:-1].strip() if pct else t)
    except ValueError as err:
        raise ValueError(f"{err} (use 0.5% or 0.005)") from None
    return value / 100 if pct else value


# Formatting ----------------------------------------------------------------------------------


def plural(n: int, word: str, many: str | None = None) -> str:
    """'1 GPU', '8 GPUs', '1 micro-batch', '2 micro-batches' (``many``: an irregular plural); a number
    that is not an int (a fraction of micro-batches in flight) takes the plural."""
    if isinstance(n, int) and not isinstance(n, bool):
        return f"{n:,} {word if n == 1 else many or word + 's'}"
    return f"{n} {many or word + 's'}"


_FLOAT_SAFE = 10**300  # past this, n / scale overflows a float


def _sci(n: int) -> str:
    """'1.23e+5000' for any int, even past Python's 4,300-digit str() limit (no str(n) involved)."""
    sign, n = ("-" if n < 0 else ""), abs(n)
    e = max(0, int((n.bit_length() - 1) * 0.30102999566398120))  # floor(log10(n)), possibly one low
    if n >= 10 ** (e + 1):
        e += 1
    mantissa = n // 10 ** max(0, e - 3)  # four leading digits
    digits = str(mantissa)[:4].ljust(4, "0")
    return f"{sign}{digits[0]}.{digits[1:]}e+{e}"


def exact(n: int) -> str:
    """n with thousands separators; past 10**300 (and so past str()'s digit limit) scientific."""
    return f"{n:,}" if abs(n) < _FLOAT_SAFE else "≈" + _sci(n)


def _scaled(n: int | float, table: list[tuple[int, str]], sep: str = "") -> str:
    if isinstance(n, int) and abs(n) >= _FLOAT_SAFE:
        return _sci(n)
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
        return (_sci(n) if isinstance(n, int) and abs(n) >= _FLOAT_SAFE else f"{float(n):.3e}") + " FLOP"
    return _scaled(n, _FLOP_SI, " ") + ("FLOP" if abs(n) >= 1000 else " FLOP")


def human_bytes(n: int) -> str:
    return _scaled(n, _BIN, " ") if abs(n) >= 1024 else f"{n} B"
