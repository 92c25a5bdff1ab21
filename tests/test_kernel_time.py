"""Kernel time (core/time/kernels.py) and whole passes (core/time/passes.py) against the H200
measurements of issue 18 (tests/golden/roofline/h200_issue18.json): one calibration row (Llama-3-8B
prefill b1 s2048) fits the Hopper matmul efficiency; the five other rows are held out."""

from __future__ import annotations

import json
from fractions import Fraction as Fr

import pytest

from attncalc.core.evaluate import decode, forward
from attncalc.core.time import kernels as K
from attncalc.core.time.fitting import fit_matmul_efficiency, with_fitted
from attncalc.core.time.passes import Workload, pass_kernels, pass_time
from attncalc.errors import WorkloadError
from attncalc.spec.hardware import load_hardware
from attncalc.spec.load import load_preset

from .conftest import GOLDEN

ROWS = json.loads((GOLDEN / "roofline" / "h200_issue18.json").read_text())["rows"]


def workload(row) -> Workload:
    dec = row["pass"] == "decode"
    return Workload(row["batch"], row["context"] if dec else row["seq"], dec)


def measured(row) -> Fr:
    return Fr(row["measured_ms"]) / 1000


def test_the_fitted_matmul_efficiency_is_the_calibration_rows():
    h = load_hardware("h200")
    cal = next(r for r in ROWS if r["role"] == "calibration")
    a = load_preset(cal["model"])
    eta = fit_matmul_efficiency(h, lambda hw: pass_time(a, workload(cal), hw).time, measured(cal))
    assert eta == h.fitted.get("matmul_efficiency") == load_hardware("h100-sxm").fitted.get("matmul_efficiency")
    est = pass_time(a, workload(cal), h)
    assert abs(est.time / measured(cal) - 1) < Fr(1, 1000) and est.efficiency == eta and "62.8" not in est.fitted_on


@pytest.mark.parametrize("row", [r for r in ROWS if r["role"] == "held out"],
                         ids=lambda r: f"{r['model']}-{r['pass']}-b{r['batch']}")
def test_held_out_h200_rows_within_20_percent(row, request):
    """Measured errors: Llama-3-8B prefill b8 +0.5%; GPT-2 XL prefill b8 -11%; decode b1 -3%, b16
    +6%. GPT-2 XL prefill b1 is -45%: the model finds 10.2 ms of work and launches, the run took
    18.6 ms (README: a fixed ~9 ms the batch does not scale, which no kernel of the pass explains)."""
    if (row["model"], row["batch"]) == ("gpt2-xl", 1):
        request.applymarker(pytest.mark.xfail(strict=True, reason="GPT-2 XL b1 s1024: 10.2 ms modelled, 18.6 measured"))
    est = pass_time(load_preset(row["model"]), workload(row), load_hardware("h200"))
    err = est.time / measured(row) - 1
    assert abs(err) <= Fr(1, 5), float(err)


def test_every_estimate_beats_the_issues_old_one_and_stays_above_the_roofline():
    h = load_hardware("h200")
    for row in ROWS:
        a, w = load_preset(row["model"]), workload(row)
        est = pass_time(a, w, h)
        old = Fr(row["issue_estimate_ms"]) / 1000
        assert abs(est.time - measured(row)) <= abs(old - measured(row)) + measured(row) / 100
        tree = decode(a, w.batch, w.seq) if w.decode else forward(a, w.batch, w.seq)
        assert est.time > Fr(tree.total, h.peak("bf16"))  # never below the compute bound


def test_the_adapter_keeps_every_matmul_and_attention_flop_of_the_tree():
    h = load_hardware("h200")
    for name, w in (("llama-3-8b", Workload(2, 512)), ("gpt2-xl", Workload(1, 300)), ("mixtral-8x7b", Workload(1, 64)),
                    ("llama-3-8b", Workload(3, 100, True))):
        a = load_preset(name)
        ks = pass_kernels(a, w, h)
        tree = decode(a, w.batch, w.seq) if w.decode else forward(a, w.batch, w.seq)
        assert sum(k.flops for k in ks if k.kind == "matmul") == tree.sum_kind("matmul"), name
        assert sum(k.flops for k in ks if k.kind == "attention") == tree.sum_kind("attention"), name


# --- tile and wave quantization (NVIDIA Matrix Multiplication Background User's Guide) ------------


def test_a_partial_wave_costs_a_full_one():
    """132 SMs: 12 x 11 tiles of 128 x 256 make one full wave; one more row of the output needs a
    13th row of tiles: 143 tiles, two waves (or 286 half-size tiles in three): 1.5x the time for
    0.07% more work, the fastest tile shape taken."""
    h = with_fitted(load_hardware("h200"), matmul_efficiency=Fr(1))
    one = K.matmul(128 * 12, 256 * 11, 8192, "bf16", h)
    two = K.matmul(128 * 12 + 1, 256 * 11, 8192, "bf16", h)
    assert (one.tiles, one.waves, one.utilization) == (132, 1, 1)
    assert two.compute_s == Fr(3, 2) * one.compute_s and two.utilization < Fr(7, 10)
    # at full efficiency and no quantization a GEMM runs at the datasheet peak
    assert one.compute_s == Fr(one.flops, h.peak("bf16"))


def test_a_partial_tile_costs_a_full_one():
    """One row of 132 tiles of 128 x 128; a 129th row of the output doubles the work launched."""
    h = with_fitted(load_hardware("h200"), matmul_efficiency=Fr(1))
    full, edge = K.matmul(128, 128 * 132, 4096, "bf16", h), K.matmul(129, 128 * 132, 4096, "bf16", h)
    assert full.tile == (128, 128) and full.utilization == 1
    assert edge.compute_s == 2 * full.compute_s and edge.utilization == Fr(129, 256)


def test_small_matmuls_are_memory_bound_and_decode_attention_reads_the_cache():
    h = load_hardware("h200")
    gemv = K.matmul(1, 14336, 4096, "bf16", h)
    assert gemv.memory_s > gemv.compute_s and gemv.bytes == (4096 + 14336 * 4096 + 14336) * 2
    att = K.attention(1, 32, 1, 2049, 128, True, "bf16", h, kv_heads=8)
    assert att.flops == 4 * 128 * 2049 * 32 and att.memory_s > att.compute_s
    assert K.attention(1, 32, 1, 2049, 128, True, "bf16", h, kv_heads=8, kv_copies=4).bytes > 3 * att.bytes // 2


def test_causal_pairs_are_exact():
    h = load_hardware("h200")
    assert K.attention(1, 1, 5, 5, 1, True, "bf16", h).flops == 4 * 15
    assert K.attention(1, 1, 2, 5, 1, True, "bf16", h).flops == 4 * (4 + 5)
    assert K.attention(1, 1, 5, 5, 1, False, "bf16", h).flops == 4 * 25


# --- launches ------------------------------------------------------------------------------------


def test_tiny_kernels_are_bound_by_the_host_and_graphs_lift_it():
    h = load_hardware("h200")
    tiny = [K.memory(1024, h)] * 1000
    eager, graphs = K.run(tiny, h, "eager"), K.run(tiny, h, "graphs")
    assert eager.time == 1000 * K.ENGINES["eager"].host_s + tiny[0].time and eager.host_bound > Fr(9, 10)
    assert graphs.time < eager.time / 4
    big = [K.matmul(8192, 8192, 8192, "bf16", h)] * 10
    assert K.run(big, h, "eager").time == K.ENGINES["eager"].host_s + 10 * big[0].time


def test_the_single_kernel_functions_add_one_launch():
    h = load_hardware("h200")
    assert K.matmul_time(4096, 4096, 4096, "bf16", h) == K.matmul(4096, 4096, 4096, "bf16", h).time + Fr(4, 10**6)
    assert K.attention_time(1, 32, 2048, 2048, 128, True, h, eng="graphs") == \
        K.attention(1, 32, 2048, 2048, 128, True, "bf16", h).time + Fr(875, 10**9)


@pytest.mark.parametrize("call, msg", [
    (lambda: K.matmul(0, 1, 1, "bf16", load_hardware("h200")), "matmul M"),
    (lambda: K.matmul(8, 8, 8, "bf16", load_hardware("l4")), "no sm_count"),
    (lambda: K.matmul(8, 8, 8, "bf16", load_hardware("mi300x")), "no fitted matmul_efficiency"),
    (lambda: K.attention(1, 32, 4, 2, 128, True, "bf16", load_hardware("h200")), "4 queries over 2 keys"),
    (lambda: K.attention(1, 32, 4, 4, 128, True, "bf16", load_hardware("h200"), kv_heads=5), "evenly"),
    (lambda: K.run([], load_hardware("h200"), "jit"), "unknown kernel engine"),
])
def test_bad_kernel_input_is_a_one_line_error(call, msg):
    with pytest.raises(WorkloadError, match=msg) as e:
        call()
    assert "\n" not in str(e.value)
