"""The vocabulary of engine rules: a named term of a capacity rule, and how its value was obtained."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

# How a term's value was obtained.
GIVEN = "given"  # an engine knob or a figure read off a log (``Measured``)
MODELLED = "modelled"  # attncalc's arithmetic over the description (weights, activations)
CALIBRATED = "calibrated"  # a constant fitted on named start-up logs (core.serve.calibration)
RULE = "rule"  # the engine's own arithmetic over the terms before it
DEVICE = "device"  # read off the device table (core.serve.devices)


@dataclass(frozen=True)
class Term:
    """One term of an engine's rule (bytes unless ``unit`` says otherwise), with its provenance."""

    name: str
    value: int | Fraction
    basis: str
    source: str  # the engine file and function it follows, or the calibration it comes from
    formula: str = ""
    unit: str = "bytes"

    def as_dict(self) -> dict:
        v = self.value
        if isinstance(v, Fraction):
            v = v.numerator if v.denominator == 1 else {"numerator": v.numerator, "denominator": v.denominator,
                                                          "approx": float(v)}
        d = {"name": self.name, "value": v, "basis": self.basis, "source": self.source}
        if self.formula:
            d["formula"] = self.formula
        if self.unit != "bytes":
            d["unit"] = self.unit
        elif isinstance(self.value, int):
            d["gib"] = round(self.value / (1 << 30), 4)
        return d


def cdiv(a: int, b: int) -> int:
    return -(-a // b)


def floor(x: Fraction | int) -> int:
    x = Fraction(x)
    return x.numerator // x.denominator


def ceil(x: Fraction | int) -> int:
    x = Fraction(x)
    return -(-x.numerator // x.denominator)
