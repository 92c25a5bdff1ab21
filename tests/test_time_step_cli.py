"""`attncalc time MODEL --tp … --pp … --dp …`: the training step on the command line."""

import json

import pytest

LAYOUT = ("time", "llama-3-70b", "--hw", "h100-sxm", "--gpus", "64", "--tp", "4", "--pp", "8", "--global-batch", "256",
          "--seq", "8192", "--schedule", "interleaved", "--virtual-stages", "5")


def test_json_keys_and_agreement_with_the_api(cli):
    from fractions import Fraction

    from attncalc.core.time.step import TrainLayout, prepare, step_time
    from attncalc.spec.hardware import load_hardware
    from attncalc.spec.load import load_preset

    r = cli(*LAYOUT, "--format", "json")
    assert r.code == 0, r.err
    t = json.loads(r.out)["time"]["training"]
    st = step_time(prepare(load_preset("llama-3-70b"), load_hardware("h100-sxm"), seq=8192),
                   TrainLayout(tp=4, pp=8, dp=2, global_batch=256, schedule="interleaved", virtual_stages=5))
    assert Fraction(t["step_s_exact"]) == st.step_s
    assert t["tflops_per_gpu"] == float(st.tflops_per_gpu) and t["mfu"] == float(st.mfu)
    assert set(t["critical_path"]) == {"compute_s", "bubble_s", "exposed_tp_s", "exposed_cp_s", "exposed_ep_s",
                                       "exposed_pp_s", "exposed_dp_s"}
    assert t["layout"]["dp"] == 2 and t["conventions"]["overlap"] == "default"


@pytest.mark.parametrize("width", ["60", "80", "120"])
def test_table_fits_and_step_time_comes_first(cli, monkeypatch, width):
    monkeypatch.setenv("COLUMNS", width)
    r = cli(*LAYOUT)
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    assert all(len(x) <= int(width) for x in lines)
    first = next(i for i, x in enumerate(lines) if x.startswith("---"))
    assert lines[first + 1].startswith("step time")


def test_run_cost_from_tokens(cli):
    r = cli("time", "llama-3-8b", "--hw", "h100-sxm", "--gpus", "8", "--global-batch", "128", "--seq", "8192",
            "--tokens", "1T", "--price-per-gpu-hour", "2", "--format", "json")
    assert r.code == 0, r.err
    t = json.loads(r.out)["time"]["training"]
    run = t["run"]
    assert run["gpu_hours"] == pytest.approx(1e12 / t["tokens_per_s"] * 8 / 3600)
    assert run["energy_kwh"] == pytest.approx(run["gpu_hours"] * 0.7)  # 700 W TDP (hardware file)
    assert run["cost"] == pytest.approx(2 * run["gpu_hours"])


def test_without_a_layout_time_is_unchanged_and_bare_recompute_means_full(cli):
    flag = json.loads(cli("time", "llama-3-8b", "--hw", "h100-sxm", "--tokens", "1e9", "--recompute", "-f", "json").out)
    full = json.loads(cli("time", "llama-3-8b", "--hw", "h100-sxm", "--tokens", "1e9", "--recompute", "full",
                          "-f", "json").out)
    none = json.loads(cli("time", "llama-3-8b", "--hw", "h100-sxm", "--tokens", "1e9", "-f", "json").out)
    assert flag == full != none and "step_s" not in json.dumps(none["time"])


@pytest.mark.parametrize("args", [("--tp", "3"), ("--gpus", "8", "--tp", "2", "--dp", "2"), ("--recompute", "most"),
                                  ("--tp", "2", "--schedule", "wavy"), ("--pp", "4", "--schedule", "zb-h1"),
                                  ("--dp", "2", "--global-batch", "3"), ("--tp", "2", "--overlap", "some"),
                                  ("--price-per-gpu-hour", "2",), ("--tp", "2", "--price-per-gpu-hour", "2")])
def test_bad_layouts_exit_2_with_one_line(cli, args):
    r = cli("time", "llama-3-8b", "--hw", "h100-sxm", *args)
    assert r.code == 2 and r.out == "" and len(r.err.strip().splitlines()) == 1 and "Traceback" not in r.err
