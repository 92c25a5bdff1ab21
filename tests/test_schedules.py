"""Pipeline schedules: the published closed forms (GPipe, Narayanan et al. 2021, Korthikanti et al. 2022,
the Zero Bubble paper, the DeepSeek-V3 report) against an event-level simulation of each schedule's
own op order (Megatron-LM's 1F1B and interleaved loops, the authors' ZB-H1 patch, DualPipe.step)."""

from __future__ import annotations

import itertools
from fractions import Fraction as Fr

import pytest

from attncalc.core.time.schedules import (SCHEDULES, StageTimes, check, closed_form, orders, pipeline_cost, run,
                                          simulate)
from attncalc.errors import WorkloadError

# Stage times inside every closed form's domain (DualPipe: F = B, W <= F, F+W <= F&B <= 2F+W);
# several ratios, so a closed form that is right for one ratio only fails.
TIMES = [StageTimes(Fr(3), Fr(3), Fr(2), Fr(6)), StageTimes(Fr(1), Fr(1), Fr(1), Fr(2)),
         StageTimes(Fr(4), Fr(4), Fr(1), Fr(9)), StageTimes(Fr(5), Fr(5), Fr(0), Fr(5)),
         StageTimes(Fr(2, 3), Fr(2, 3), Fr(1, 7), Fr(1))]
OFF = [StageTimes(Fr(1), Fr(3), Fr(1)), StageTimes(Fr(3), Fr(1), Fr(2)), StageTimes(Fr(2), Fr(5), Fr(1))]


def configs(p_max: int, m_max: int, v_max: int):
    for sched in SCHEDULES:
        for p, m in itertools.product(range(1, p_max + 1), range(1, m_max + 1)):
            for v in (range(2, v_max + 1) if sched == "interleaved" else (1,)):
                try:
                    check(sched, p, m, v)
                except WorkloadError:
                    continue
                yield sched, p, m, v


def same(a, b) -> bool:
    return (a.step, a.work, a.peak_activations) == (b.step, b.work, b.peak_activations)


# --- the papers' own statements ------------------------------------------------------------------


@pytest.mark.parametrize("p, m", [(4, 8), (8, 32), (16, 64), (3, 7)])
def test_1f1b_bubble_fraction_is_narayanans(p, m):
    """Narayanan et al. 2021 sec. 2.2.1: bubble time fraction = (p - 1) / m, for any t_f, t_b."""
    for t in TIMES + OFF:
        c = simulate("1f1b", p, m, t)
        assert c.bubble_fraction == Fr(p - 1, m)
        assert c.bubble == (p - 1) * (t.f + t.b + t.w)


@pytest.mark.parametrize("p, m, v", [(4, 8, 2), (8, 16, 4), (4, 12, 3)])
def test_interleaved_bubble_and_memory_are_narayanans_and_korthikantis(p, m, v):
    """Narayanan et al. 2021 sec. 2.2.2: bubble fraction (p-1)/(v m). Korthikanti et al. 2022 sec.
    4.2.3: the first stage holds p (1 + (p-1)/(p v)) micro-batches' activations."""
    c = simulate("interleaved", p, m, StageTimes(Fr(2), Fr(3), Fr(1)), v)
    assert c.bubble_fraction == Fr(p - 1, v * m)
    assert c.peak_activations[0] == p * (1 + Fr(p - 1, p * v))


def test_gpipe_bubble_is_huangs_and_1f1b_saves_memory():
    """Huang et al. 2019 sec. 2.3: bubble O((K-1)/(M+K-1)) of the step, all M micro-batches stored;
    1F1B: the same bubble, at most p in flight (Narayanan et al. 2021 sec. 2.2.1)."""
    t = StageTimes(Fr(1), Fr(2))
    g, o = simulate("gpipe", 4, 12, t), simulate("1f1b", 4, 12, t)
    assert g.bubble / g.step == Fr(3, 15) and g.step == o.step
    assert g.peak_activations == (12,) * 4 and o.peak_activations == (4, 3, 2, 1)


def test_zero_bubble_h1_is_the_papers_table():
    """Qi et al. 2023 Table 2: ZB-H1 bubble (p-1)(T_F + T_B - T_W) against 1F1B's (p-1)(T_F+T_B+T_W),
    same peak memory p M_B; at T_F = T_B = T_W, a third of 1F1B's bubble (the repository's table)."""
    t = StageTimes(Fr(1), Fr(1), Fr(1))
    z, o = simulate("zb-h1", 8, 24, t), simulate("1f1b", 8, 24, t)
    assert z.bubble == 7 * (1 + 1 - 1) and o.bubble == 3 * z.bubble
    assert z.peak == o.peak == 8


def test_dualpipe_is_the_deepseek_v3_table():
    """DeepSeek-V3 report, Table 2 (and deepseek-ai/DualPipe's README): bubble (PP/2-1)(F&B + B - 3W)
    with B the full backward, activations PP + 1 per device, against 1F1B's (PP-1)(F+B) and PP."""
    f, b, w, fb = Fr(2), Fr(2), Fr(1), Fr(4)  # B input part 2, full backward 3
    c = simulate("dualpipe", 8, 20, StageTimes(f, b, w, fb))
    assert c.bubble == (8 // 2 - 1) * (fb + (b + w) - 3 * w) == 12
    assert c.peak == 8 + 1 and c.peak_activations == (8, 8, 8, 9, 9, 8, 8, 8)


# --- every closed form equals the simulation -----------------------------------------------------


@pytest.mark.parametrize("t", TIMES, ids=lambda t: f"F{t.f}B{t.b}W{t.w}FB{t.fb}")
def test_closed_forms_equal_the_simulation_small_grid(t):
    for sched, p, m, v in configs(6, 16, 3):
        a, b = closed_form(sched, p, m, t, v), simulate(sched, p, m, t, v)
        assert same(a, b), (sched, p, m, v, a, b)


def test_closed_forms_equal_the_simulation_on_the_full_grid():
    """p <= 16, m <= 64 (as each schedule allows), v <= 4: about 3,800 schedules, ~12 s."""
    t = TIMES[0]
    n = 0
    for sched, p, m, v in configs(16, 64, 4):
        a, b = closed_form(sched, p, m, t, v), simulate(sched, p, m, t, v)
        assert same(a, b), (sched, p, m, v, a, b)
        n += 1
    assert n == 3777


def test_zero_bubble_h1_for_any_f_b_w_is_the_max_form():
    """What the simulation adds: for W > min(F, B) the bubble is (p-1) max(F+B-W, F, B), not the
    paper's form, and the closed form refuses to answer there."""
    for t in OFF + TIMES:
        for p, m in itertools.product(range(1, 9), range(1, 25)):
            if m < p:
                continue
            c = simulate("zb-h1", p, m, t)
            assert c.bubble == (p - 1) * max(t.f + t.b - t.w, t.f, t.b), (t, p, m)
    with pytest.raises(WorkloadError, match="W <= min"):
        closed_form("zb-h1", 4, 8, StageTimes(Fr(1), Fr(1), Fr(2)))


def test_outside_a_closed_forms_domain_the_simulation_answers():
    t = StageTimes(Fr(3), Fr(2), Fr(1), Fr(4))  # F != B: DualPipe's table does not hold
    c = pipeline_cost("dualpipe", 8, 16, t)
    assert c.method == "simulation" and c.bubble != 3 * (t.fb + t.b + t.w - 3 * t.w)
    assert pipeline_cost("1f1b", 8, 16, t).method == "closed form"


# --- the simulator itself and bad input ----------------------------------------------------------


def test_the_simulator_sees_dependencies_and_deadlocks():
    ops = orders("1f1b", 2, 2)
    step, busy = run(ops, {"F": 1, "BW": 2})
    assert step == 2 * 3 + 1 * 3 and busy == [6, 6]  # (m + p - 1)(F + B)
    swapped = [ops[0], [ops[1][1], ops[1][0]] + ops[1][2:]]  # a backward before its forward
    with pytest.raises(WorkloadError, match="deadlock"):
        run(swapped, {"F": 1, "BW": 2})


@pytest.mark.parametrize("args, msg", [
    (("interleaved", 4, 6, 2), "multiple of p"), (("interleaved", 4, 8, 1), "v >= 2"),
    (("zb-h1", 8, 4, 1), "at least as many"), (("dualpipe", 6, 10, 1), "m >= 2p"),
    (("dualpipe", 5, 10, 1), "p even"), (("1f1b", 4, 8, 2), "virtual stages"),
    (("pipedream", 4, 8, 1), "unknown pipeline schedule"), (("1f1b", 0, 8, 1), "p must be"),
])
def test_bad_layouts_are_one_line_domain_errors(args, msg):
    with pytest.raises(WorkloadError, match=msg) as e:
        check(*args)
    assert "\n" not in str(e.value)


def test_stage_times_must_be_exact_and_non_negative():
    for bad in (0.5, -1, True):
        with pytest.raises(WorkloadError):
            StageTimes(bad, Fr(1))
    with pytest.raises(WorkloadError):
        StageTimes(0, 0)
