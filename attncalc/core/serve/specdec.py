"""Speculative decoding's expected gains (Leviathan, Kalman & Matias, "Fast Inference from Transformers
via Speculative Decoding", ICML 2023, arXiv:2211.17192), exactly, in Fractions.

With γ drafted tokens and i.i.d. acceptance of mean α (sec. 3.1, Definition 3.1), one run of
Algorithm 1 (γ draft steps, one target call) produces a capped geometric number of tokens, with
success probability 1 − α and cap γ + 1:

- E[tokens per run] = (1 − α^(γ+1)) / (1 − α)                  (Equation 1)
- expected walltime improvement = (1 − α^(γ+1)) / ((1 − α)(γc + 1))   (Theorem 3.8; c = draft run time /
  target run time)
- expected factor of total operations = (1 − α)(γĉ + γ + 1) / (1 − α^(γ+1))   (Theorem 3.11)

vLLM's "Mean acceptance length" is Equation 1 (both count the target's bonus token); its per-token
"acceptance rate" is (α − α^(γ+1)) / (γ(1 − α)) (RULES.md).
"""

from __future__ import annotations

import random
from fractions import Fraction

from ...errors import WorkloadError


def _check(alpha: Fraction, gamma: int) -> None:
    if not 0 <= alpha <= 1:
        raise WorkloadError(f"--acceptance must be in [0, 1], got {alpha}")
    if isinstance(gamma, bool) or not isinstance(gamma, int) or gamma < 0:
        raise WorkloadError(f"--draft-tokens must be an integer >= 0, got {gamma!r}")


def expected_tokens(alpha: Fraction, gamma: int) -> Fraction:
    """Equation 1: (1 − α^(γ+1)) / (1 − α); γ + 1 when every draft is accepted (α = 1)."""
    _check(alpha, gamma)
    alpha = Fraction(alpha)
    if alpha == 1:
        return Fraction(gamma + 1)
    return (1 - alpha ** (gamma + 1)) / (1 - alpha)


def speedup(alpha: Fraction, gamma: int, c: Fraction) -> Fraction:
    """Theorem 3.8: expected walltime improvement (1 − α^(γ+1)) / ((1 − α)(γc + 1))."""
    return expected_tokens(alpha, gamma) / (gamma * Fraction(c) + 1)


def operations_factor(alpha: Fraction, gamma: int, c_hat: Fraction) -> Fraction:
    """Theorem 3.11: expected factor of total arithmetic operations."""
    return (gamma * Fraction(c_hat) + gamma + 1) / expected_tokens(alpha, gamma)


def distribution(alpha: Fraction, gamma: int) -> dict[int, Fraction]:
    """P(a run produces n tokens), n = 1..γ+1: the first n − 1 drafts accepted, then a rejection (or
    the cap): the capped geometric variable of sec. 3.1."""
    _check(alpha, gamma)
    alpha = Fraction(alpha)
    return {n: (alpha ** (n - 1) * ((1 - alpha) if n <= gamma else 1)) for n in range(1, gamma + 2)}


def draw(rng: random.Random, alpha: Fraction, gamma: int) -> int:
    """Tokens one run produces, drawn exactly: each draft accepted when a 53-bit uniform integer is
    below α × 2^53 (a Fraction comparison, no float)."""
    a = Fraction(alpha)
    num, den = a.numerator << 53, a.denominator  # u < α 2^53  ⇔  u × den < num 2^53
    n = 1
    while n <= gamma and rng.getrandbits(53) * den < num:
        n += 1
    return n
