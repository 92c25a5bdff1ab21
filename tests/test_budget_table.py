"""One budget table (core.budgets.BUDGETS) serves check, fit and time: a figure of `fit` or `time`
can be budgeted by `check`, and all three compare the same figure exactly."""

import json

from attncalc.core.budgets import BUDGETS


def test_fit_figure_is_a_check_budget(cli):
    fit = json.loads(cli("fit", "gemma-3-27b", "--seq", "4096", "--micro-batch", "1", "--format", "json").out)
    total = fit["memory"]["per_gpu"]["total"]
    ok = cli("check", "gemma-3-27b", "--seq", "4096", "--max-memory-per-gpu", f"{total} bytes", "--format", "json")
    assert ok.code == 0, ok.err
    doc = json.loads(ok.out)
    assert doc["budgets"][0]["actual"] == total
    tight = cli("check", "gemma-3-27b", "--seq", "4096", "--max-memory-per-gpu", f"{total - 1} bytes")  # a unit: issue 22
    assert tight.code == 1 and "max_memory_per_gpu" in tight.out


def test_time_figure_is_a_check_budget(cli):
    t = json.loads(cli("time", "llama-3-8b", "--hw", "h100-sxm", "--seq", "2048", "--format", "json").out)
    ms = t["time"]["decode"]["estimate_ms_per_token"]
    limit = f"{ms * 1.001:.6f}"
    r = cli("check", "llama-3-8b", "--seq", "2048", "--hw", "h100-sxm", "--max-decode-ms", limit)
    assert r.code == 0, r.err + r.out
    r = cli("check", "llama-3-8b", "--seq", "2048", "--hw", "h100-sxm", "--max-decode-ms", f"{ms * 0.999:.6f}")
    assert r.code == 1
    assert cli("check", "llama-3-8b", "--max-decode-ms", "5").code == 2  # needs --hw: one line, exit 2


def test_an_estimate_equal_to_its_limit_holds(cli):
    """The figure is exact: a limit written as the exact estimate passes (never 'is 3.352, limit <= 3.352')."""
    from fractions import Fraction

    from attncalc.core.time.report import time_report
    from attncalc.core.time.setup import Setup
    from attncalc.spec.hardware import load_hardware
    from attncalc.spec.load import load_model

    r = time_report(load_model("llama-3-8b"), Setup(load_hardware("h100-sxm")), batch=1, seq=2048, context=2048)
    exact = r.decode_ms
    assert isinstance(exact, Fraction)
    out = cli("time", "llama-3-8b", "--hw", "h100-sxm", "--seq", "2048",
              "--max-decode-ms", f"{exact.numerator}/{exact.denominator}")
    assert out.code == 0, out.err


def test_every_command_budget_is_a_row():
    for name in ("max_memory_per_gpu", "max_serving_memory_per_gpu", "max_activation_memory", "min_context",
                 "max_decode_ms", "max_prefill_ms", "min_tokens_per_s", "max_params", "max_kv_cache"):
        assert name in BUDGETS
