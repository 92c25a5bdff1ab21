"""The refactoring guard: every figure of `count`, `fit` and `time` recorded in tests/snapshots for
every preset and test config comes out unchanged (keys may be added). A fix that changes figures
on purpose regenerates the snapshot (tests/snapshots/make_snapshots.py) in the commit that names it."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "snapshots"))
import make_snapshots as snap  # noqa: E402


@pytest.mark.parametrize("name", list(snap.RUNS))
def test_snapshot_unchanged(name, monkeypatch):
    monkeypatch.delenv("ATTNCALC_HARDWARE", raising=False)
    diffs = snap.differences(snap.load(name), snap.snapshot(name), name)
    assert not diffs, f"{len(diffs)} figures changed:\n" + "\n".join(diffs[:40])


def test_differences_sees_a_changed_figure():
    old = {"m": {"params": {"total": 7, "kinds": [1, 2]}}}
    assert snap.differences(old, {"m": {"params": {"total": 7, "kinds": [1, 2], "new": 1}}}) == []
    assert snap.differences(old, {"m": {"params": {"total": 8, "kinds": [1, 2]}}})
    assert snap.differences(old, {"m": {"params": {"kinds": [1, 2]}}})
    assert snap.differences(old, {"m": {"params": {"total": 7, "kinds": [1, 3]}}})
