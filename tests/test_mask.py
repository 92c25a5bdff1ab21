"""The one mask (core.workload.Mask): its closed-form pair counts are the sum of its key ranges,
checked against the definition written independently here (which (i, j) pairs a mask keeps), and
the kernel's own njit copy of key_range agrees with it everywhere."""

from __future__ import annotations

import pytest

from attncalc.core.workload import Mask

LENGTHS = (1, 2, 3, 7, 16, 37, 128, 129)
WINDOWS = (None, 1, 2, 4, 37, 500)


def kept(i: int, j: int, causal: bool, window: int | None, chunk: int | None) -> bool:
    """The masks as their papers state them, one (query i, key j) pair at a time."""
    if causal and j > i:
        return False
    if window is not None and abs(i - j) >= window:
        return False
    if chunk is not None and i // chunk != j // chunk:
        return False
    return True


def brute(seq: int, causal: bool, window: int | None = None, chunk: int | None = None) -> int:
    return sum(kept(i, j, causal, window, chunk) for i in range(seq) for j in range(seq))


@pytest.mark.parametrize("causal", [True, False])
def test_pairs_are_the_sum_of_kept_pairs(causal):
    for seq in LENGTHS:
        for window in WINDOWS:
            m = Mask(causal, window)
            assert m.pairs(seq) == brute(seq, causal, window), (seq, window)
            assert sum(hi - lo for lo, hi in (m.key_range(i, seq) for i in range(seq))) == m.pairs(seq)


def test_chunked_attention_pairs():
    for seq in LENGTHS:
        for chunk in (1, 2, 5, 16, 1000):
            assert Mask(True, chunk=chunk).pairs(seq) == brute(seq, True, chunk=chunk), (seq, chunk)


def test_key_ranges_hold_exactly_the_kept_keys():
    for seq in (5, 37):
        for causal in (True, False):
            for window in WINDOWS:
                m = Mask(causal, window)
                for i in range(seq):
                    lo, hi = m.key_range(i, seq)
                    assert [j for j in range(seq) if kept(i, j, causal, window, None)] == list(range(lo, hi))


def test_decode_keys_and_cache():
    assert Mask(True).keys_at(4096) == 4097
    assert Mask(True, 4096).keys_at(10_000) == 4096 and Mask(True, 4096).kept(10_000) == 4096
    assert Mask(True, chunk=8192).keys_at(8192) == 1  # a new chunk starts with the token itself
    assert Mask(False).keys_at(511) == 512


def test_the_kernel_key_range_is_the_same_mask():
    kernels = pytest.importorskip("attncalc.run.kernels")
    njit_range = kernels.core.key_range
    for seq in (1, 7, 37, 300):
        for causal in (True, False):
            for window in WINDOWS:
                m = Mask(causal, window)
                for i in range(seq):
                    assert tuple(njit_range(i, seq, causal, window or 0)) == m.key_range(i, seq), (seq, causal, window, i)
