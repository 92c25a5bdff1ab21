"""core/time/step.py: the training-step API's invariants (the published-runs check is
tests/test_step_published.py)."""

from fractions import Fraction

import pytest

from attncalc.core.time import schedules as S
from attncalc.core.time.step import DIMENSIONS, TrainLayout, prepare, step_time
from attncalc.errors import WorkloadError
from attncalc.spec.hardware import load_hardware
from attncalc.spec.load import load_preset


@pytest.fixture(scope="module")
def llama8b():
    return prepare(load_preset("llama-3-8b"), load_hardware("h100-sxm"), seq=4096)


def test_parts_add_up_and_bound_holds(llama8b):
    for layout in (TrainLayout(), TrainLayout(tp=2, dp=4, global_batch=64), TrainLayout(pp=4, dp=2, global_batch=64),
                   TrainLayout(tp=8, pp=2, dp=2, cp=2, global_batch=32, recompute="full", zero=3)):
        s = step_time(llama8b, layout)
        assert s.step_s == s.compute_s + sum(s.exposed.values()) + s.bubble_s
        assert set(s.exposed) == set(DIMENSIONS)
        assert all(0 <= s.exposed[d] <= s.traffic[d] for d in DIMENSIONS)
        assert s.bound_s <= s.step_s and s.mfu == s.bound_s / s.step_s < 1
        assert s.gpus == layout.gpus and isinstance(s.step_s, Fraction)


def test_one_gpu_has_no_traffic_and_scales_with_batch(llama8b):
    one, two = step_time(llama8b, TrainLayout(global_batch=1)), step_time(llama8b, TrainLayout(global_batch=2))
    assert not any(one.traffic.values()) and one.bubble_s == 0
    opt = one.breakdown["optimizer_s"]
    assert two.compute_s - opt == 2 * (one.compute_s - opt)


def test_bubble_is_the_schedules_closed_form(llama8b):
    s = step_time(llama8b, TrainLayout(pp=4, global_batch=8))
    b = s.breakdown
    per = (s.compute_s - b["optimizer_s"]) / 8
    assert b["forward_s"] + b["backward_input_s"] + b["recompute_s"] + b["backward_weight_s"] == per
    exposed_in_stage = (s.exposed["tp"] + s.exposed["ep"] + s.exposed["cp"]) / 8
    assert s.bubble_s == 3 * (per + exposed_in_stage)  # 1F1B: (p-1)(F+B+W)
    inter = step_time(llama8b, TrainLayout(pp=4, global_batch=8, schedule="interleaved", virtual_stages=2))
    assert inter.bubble_s < s.bubble_s


def test_overlap_conventions_order(llama8b):
    a, hw = load_preset("llama-3-8b"), load_hardware("h100-sxm")
    layout = TrainLayout(tp=8, pp=2, dp=4, global_batch=64, zero=1)
    steps = [step_time(prepare(a, hw, seq=4096, overlap=o), layout).step_s for o in ("none", "default", "full")]
    assert steps[0] >= steps[1] >= steps[2]


def test_recompute_costs_time_and_tp_traffic_is_more_with_more_ranks(llama8b):
    base = TrainLayout(tp=2, dp=1, global_batch=4)
    none, full = (step_time(llama8b, TrainLayout(tp=2, global_batch=4, recompute=r)) for r in ("none", "full"))
    assert full.compute_s > none.compute_s and full.traffic["tp"] > none.traffic["tp"]
    assert step_time(llama8b, base).traffic["tp"] > 0


def test_dualpipe_is_simulated_and_bubbles_less_than_1f1b(llama8b):
    one = step_time(llama8b, TrainLayout(pp=4, global_batch=16))
    dual = step_time(llama8b, TrainLayout(pp=4, global_batch=16, schedule="dualpipe"))
    assert dual.schedule_method == "simulation" and dual.bubble_s < one.bubble_s


def test_expert_parallelism_may_span_tensor_ranks():
    """Megatron-Core carves EP out of tp x dp x cp (expert tensor parallelism 1)."""
    p = prepare(load_preset("deepseek-v3"), load_hardware("h100-sxm"), seq=4096)
    wide = step_time(p, TrainLayout(tp=2, pp=8, dp=4, ep=8, global_batch=64))
    assert wide.traffic["ep"] > 0
    with pytest.raises(WorkloadError):
        step_time(p, TrainLayout(tp=2, pp=8, dp=4, ep=16, global_batch=64))


def test_moe_has_expert_traffic():
    p = prepare(load_preset("deepseek-v3"), load_hardware("h100-sxm"), seq=4096)
    s = step_time(p, TrainLayout(pp=16, dp=8, ep=8, global_batch=64))
    assert s.traffic["ep"] > 0 and s.traffic["dp"] > 0 and s.traffic["pp"] > 0


@pytest.mark.parametrize("layout", [TrainLayout(tp=3), TrainLayout(dp=2, global_batch=3), TrainLayout(cp=3),
                                    TrainLayout(recompute="most"), TrainLayout(schedule="zb-h1", pp=4, global_batch=2),
                                    TrainLayout(schedule="wavy"), TrainLayout(pp=1000),
                                    TrainLayout(pp=4, schedule="dualpipe", global_batch=10**8)])
def test_layouts_that_do_not_run_are_refused(llama8b, layout):
    with pytest.raises(WorkloadError):
        step_time(llama8b, layout)


def test_bad_options_refused():
    a, hw = load_preset("llama-3-8b"), load_hardware("h100-sxm")
    with pytest.raises(WorkloadError):
        prepare(a, hw, seq=4096, overlap="some")
    with pytest.raises(WorkloadError):
        prepare(a, hw, seq=4096, efficiency=Fraction(3, 2))


def test_every_preset_prices_or_refuses_in_one_line():
    """Every block kind of every preset (encoder-decoders, hybrids, MoE, new activations) reaches a
    step time, or a WorkloadError for a layout that does not run."""
    from attncalc.errors import AttncalcError
    from attncalc.spec.load import preset_names

    hw = load_hardware("h100-sxm")
    priced = 0
    for name in preset_names():
        a = load_preset(name)
        p = prepare(a, hw, seq=min(a.n_ctx, 2048))
        for layout in (TrainLayout(), TrainLayout(tp=2, pp=2, dp=2, global_batch=8),
                       TrainLayout(pp=2, dp=4, ep=2, cp=2, global_batch=16)):
            try:
                s = step_time(p, layout)
            except AttncalcError:
                continue
            assert 0 < s.bound_s <= s.step_s
            priced += 1
    assert priced >= len(preset_names())
