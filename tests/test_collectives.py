"""Collectives against measured NCCL tables nobody here wrote (tests/golden/collectives/nccl.json:
NVIDIA AIConfigurator's nccl-tests runs on H100, H200 and B200, TensorRT-LLM's custom all-reduce,
NVIDIA's dgxc-benchmarking sample) and NCCL's own statements. The Hopper constants were fitted on
13 H200 rows (12 at 512 MiB, one custom all-reduce at 16 KiB); every other row is held out."""

from __future__ import annotations

import json
from fractions import Fraction as Fr
from functools import lru_cache

import pytest

from attncalc.core.time.fitting import fit_collective_efficiency, fit_custom_latency
from attncalc.core.time.collectives import (all_gather, all_reduce, bus_factor, collective, send_recv)
from attncalc.errors import AttncalcError, WorkloadError
from attncalc.spec.hardware import load_hardware
from attncalc.spec.load import load_preset

from .conftest import GOLDEN

OPS = {"all_reduce": "all_reduce", "all_gather": "all_gather", "reduce_scatter": "reduce_scatter",
       "alltoall": "all_to_all"}
KIB, MIB = 1024, 2**20
CAL_SIZE = 512 * MIB


@lru_cache(maxsize=1)
def tables() -> dict:
    return {t["id"]: t for t in json.loads((GOLDEN / "collectives" / "nccl.json").read_text())["tables"]}


def nccl_rows(system: str, version: str = "2.29.2", lo: int = 16 * KIB, hi: int = 512 * MIB):
    """(op, GPUs, bytes, best measured seconds, table id) of AIConfigurator's nccl-tests tables."""
    out = []
    for op, ours in OPS.items():
        for n in (2, 4, 8):
            t = tables()[f"aic-{system}-nccl{version}-{op}-{n}gpu"]
            out += [(ours, n, r[1], Fr(str(min(r[2]))) / 1000, t["id"]) for r in t["rows"] if lo <= r[1] <= hi]
    return out


def errors(hw, rows):
    return [collective(op, s, n, hw).time / m - 1 for op, n, s, m, _ in rows]


# --- issue 18's three points and the Llama-3-70B decode step -------------------------------------


@pytest.mark.parametrize("nbytes, measured_us", [(16 * KIB, "18.3"), (2 * MIB, "37.5"), (256 * MIB, "1052.6")])
def test_the_issue_points_on_8_h200(nbytes, measured_us):
    """aic-h200_sxm-nccl2.29.2-all_reduce-8gpu (issue 18: 18.3 us at 16 KiB, where bytes over the
    link alone give 0.06 us, 300x too fast)."""
    h = load_hardware("h200")
    c = all_reduce(nbytes, 8, h)
    assert abs(c.time / (Fr(measured_us) / 10**6) - 1) <= Fr(1, 4)
    bandwidth_only = Fr(2 * 7, 8) * nbytes / (h.intra().bytes_per_s)
    if nbytes == 16 * KIB:
        assert c.time > 200 * bandwidth_only and (c.algorithm, c.protocol) == ("ring", "LL")
    if nbytes == 256 * MIB:
        assert c.algorithm == "nvls"


def test_llama_3_70b_tensor_parallel_decode_step_communicates_for_2_to_4_ms():
    """Batch 1, 8-way tensor parallel: 2 all-reduces of d_model bf16 values per layer (Megatron-LM)."""
    a = load_preset("llama-3-70b")
    nbytes, count = a.d_model * 2, 2 * a.n_layers
    assert (nbytes, count) == (16 * KIB, 160)
    total = count * all_reduce(nbytes, 8, load_hardware("h200")).time
    assert Fr(2, 1000) <= total <= Fr(4, 1000)
    custom = count * all_reduce(nbytes, 8, load_hardware("h200"), engine="custom").time
    assert custom < total / 3  # what vLLM / TensorRT-LLM's one-shot kernel saves


# --- the fit, reproduced, and the rows held out --------------------------------------------------


def test_hopper_constants_are_the_fit_on_the_stated_rows():
    h200, h100 = load_hardware("h200"), load_hardware("h100-sxm")
    assert h200.fitted.values == h100.fitted.values  # one set per generation
    cal = [r[:4] for r in nccl_rows("h200_sxm", lo=CAL_SIZE)]
    assert len(cal) == 12
    eff, worst = fit_collective_efficiency(h200, cal)
    assert eff == h200.fitted.get("intra_node_efficiency") == Fr(67, 100) and worst < Fr(1, 5)
    row = next(r for r in tables()["aic-h200_sxm-trtllm1.3.0rc20-custom-allreduce-8gpu"]["rows"] if r[1] == 16 * KIB)
    assert fit_custom_latency(h200, 8, 16 * KIB, Fr(str(row[2])) / 1000) == h200.fitted.get("intra_node_latency_ns")


def test_held_out_nccl_rows_on_h100_and_h200():
    """All four collectives, 2/4/8 GPUs, 16 KiB to 512 MiB, NCCL 2.29.2: 372 rows held out of 384
    (H100 all; H200 all but the 12 at 512 MiB). Measured: 352 within +-25% (94.6%), mean |error|
    11.4%, worst -56% (an all-to-all at 32 KiB on 8 H100 that H200 runs in half the time); the
    misses are 2-GPU all-gather / reduce-scatter at 4-128 MiB (NCCL reaches ~260 GB/s there, not
    ~340) and small all-to-alls (README)."""
    held = [(hw, r) for hw, sys_ in (("h100-sxm", "h100_sxm"), ("h200", "h200_sxm"))
            for r in nccl_rows(sys_) if not (sys_ == "h200_sxm" and r[2] == CAL_SIZE)]
    assert len(held) == 372 and 13 / (len(held) + 13) < Fr(1, 4)
    errs = [abs(e) for hw, r in held for e in errors(load_hardware(hw), [r])]
    within = sum(e <= Fr(1, 4) for e in errs)
    assert within >= 350 and sum(errs) / len(errs) < Fr(12, 100) and max(errs) < Fr(6, 10)


def test_held_out_second_measurements_and_the_dgxc_sample():
    """The other AIConfigurator directories (two more measurements per size) and NVIDIA's
    dgxc-benchmarking 8 x H100 all_reduce_perf sample (float)."""
    for hw, sys_, ver in (("h100-sxm", "h100_sxm", "2.27.3"), ("h200", "h200_sxm", "2.26.2")):
        errs = [abs(e) for e in errors(load_hardware(hw), nccl_rows(sys_, ver))]
        assert sum(e <= Fr(1, 4) for e in errs) >= 0.9 * len(errs)
    t = tables()["dgxc-h100-8gpu-all_reduce-float-sample"]
    h = load_hardware("h100-sxm")
    errs = [all_reduce(r[0], 8, h).time / (Fr(str(r[2])) / 10**6) - 1 for r in t["rows"] if 16 * KIB <= r[0] <= 512 * MIB]
    assert len(errs) == 16 and sum(abs(e) <= Fr(1, 4) for e in errs) >= 15


def test_custom_one_shot_all_reduce_against_tensorrt_llm():
    """TensorRT-LLM's custom all-reduce (CUDA graph) where vLLM's rule runs one-shot: every row within
    +-25% (the two-shot range is not: TensorRT-LLM keeps one-shot longer, README)."""
    n_rows = 0
    for hw, sys_ in (("h100-sxm", "h100_sxm"), ("h200", "h200_sxm")):
        h = load_hardware(hw)
        for n in (2, 4, 8):
            for r in tables()[f"aic-{sys_}-trtllm1.3.0rc20-custom-allreduce-{n}gpu"]["rows"]:
                c = all_reduce(r[1], n, h, engine="custom")
                if r[1] < 16 * KIB or c.algorithm != "one-shot" or (sys_, n, r[1]) == ("h200_sxm", 8, 16 * KIB):
                    continue
                assert abs(c.time / (Fr(str(r[2])) / 1000) - 1) <= Fr(1, 4), (hw, n, r[1])
                n_rows += 1
    assert n_rows == 37


def test_nvlink_bandwidth_is_the_maintainers_370_gb_s_within_a_quarter():
    """nccl-tests #212 (NCCL maintainer): ring/all-gather busbw about 370 GB/s on H100 NVLink."""
    c = all_gather(2**30, 8, load_hardware("h100-sxm"))
    assert abs(c.bus_bandwidth / (370 * 10**9) - 1) < Fr(1, 4) and c.algorithm == "ring"


# --- what the model is made of -------------------------------------------------------------------


def test_bus_bandwidth_follows_nccl_tests():
    assert (bus_factor("all_reduce", 8), bus_factor("all_gather", 4), bus_factor("send_recv", 2)) == \
           (Fr(7, 4), Fr(3, 4), 1)
    c = all_reduce(2**28, 8, load_hardware("h200"))
    assert c.bus_bandwidth == Fr(2**28) / c.time * Fr(7, 4)


def test_time_grows_with_size_and_nvls_needs_the_switch():
    for op in ("all_reduce", "all_gather", "reduce_scatter", "all_to_all"):
        ts = [collective(op, 2**k, 8, load_hardware("h200")).time for k in range(10, 30)]
        assert ts == sorted(ts)
    a100 = load_hardware("a100-80gb-sxm")  # second-generation NVSwitch: no NVLS
    assert all(c.algorithm != "nvls" for c in all_reduce(2**28, 8, a100).candidates)
    assert any(c.algorithm == "nvls" for c in all_reduce(2**28, 8, load_hardware("h200")).candidates)


def test_across_nodes_the_nics_limit_and_latency_grows():
    h = load_hardware("h200")
    one, two = all_reduce(2**28, 8, h), all_reduce(2**28, 16, h)
    assert two.time > one.time and two.gpus_per_node == 8
    assert send_recv(2**24, h, across_nodes=True).time > send_recv(2**24, h).time
    assert all_reduce(16 * KIB, 64, h).time > all_reduce(16 * KIB, 8, h).time


@pytest.mark.parametrize("call, msg", [
    (lambda h: collective("all_reduce", 1024, 16, h, gpus_per_node=8, engine="custom"), "one NVLink node"),
    (lambda h: collective("gather", 1024, 8, h), "unknown collective"),
    (lambda h: collective("all_reduce", 1024, 8, h, engine="gloo"), "unknown communication engine"),
    (lambda h: collective("all_reduce", 1024, 12, h, gpus_per_node=8), "do not fill nodes"),
    (lambda h: collective("all_reduce", -1, 8, h), "message bytes"),
    (lambda h: collective("all_reduce", 1024, 16, load_hardware("l4"), gpus_per_node=8), "no [inter_node]"),
])
def test_bad_layouts_are_one_line_errors(call, msg):
    with pytest.raises(WorkloadError, match=msg.replace("[", r"\[")) as e:
        call(load_hardware("h200"))
    assert "\n" not in str(e.value)


# --- a user's own cluster file -------------------------------------------------------------------

CLUSTER = '''source = "my lab: 4 GPUs per node on PCIe, 2 x 200 Gb/s RoCE NICs"
generation = "ampere"
memory_bytes_per_s = 1_000_000_000_000
sm_count = 80
gpus_per_node = 4
[intra_node]
kind = "pcie"
bytes_per_s = 32_000_000_000
[inter_node]
kind = "roce"
nics_per_node = 2
nic_bytes_per_s = 25_000_000_000
[fitted]
intra_node_efficiency = "4/5"
fitted_on = "our nccl-tests run of 2026-01-01"
[dense_flops_per_s]
bf16 = 100_000_000_000_000
'''


def test_a_users_cluster_file_is_read_and_timed(tmp_path, cli):
    p = tmp_path / "lab.toml"
    p.write_text(CLUSTER)
    h = load_hardware(str(p))
    assert (h.gpus_per_node, h.intra().kind, h.inter_node.count, h.fitted.get("intra_node_efficiency")) == \
           (4, "pcie", 2, Fr(4, 5))
    c = all_reduce(2**26, 8, h)
    assert c.gpus_per_node == 4 and c.time > all_reduce(2**26, 4, h).time
    r = cli("time", "gpt2-small", "--hw", str(p), "--gpus", "4", "--format", "json")
    assert r.code == 0 and json.loads(r.out)["hardware"]["inter_node"]["kind"] == "roce"


@pytest.mark.parametrize("edit, where", [
    (('intra_node_efficiency = "4/5"', 'intra_node_efficiency = "3/2"'), "fitted.intra_node_efficiency: must be in"),
    (('intra_node_efficiency = "4/5"', 'intra_node_efficiency = 0.8'), "fitted.intra_node_efficiency: expected an exact"),
    (('kind = "pcie"', 'kind = "pcie"\nlanes = 16'), "intra_node.lanes: unknown field"),
    (('kind = "roce"', 'kind = "token-ring"'), "inter_node.kind: unknown link kind"),
    (("nics_per_node = 2", "nics_per_node = 2" + "0" * 5000), "inter_node.nics_per_node: a number with thousands"),
    (("nics_per_node = 2", "nics_per_node = 1" + "0" * 400), "inter_node.nics_per_node: too large"),
    (("nic_bytes_per_s = 25_000_000_000", "nic_bytes_per_s = 1e400"), "inter_node.nic_bytes_per_s: expected a whole"),
    (('fitted_on = "our nccl-tests run of 2026-01-01"', ""), "fitted.fitted_on: required field"),
    (('intra_node_efficiency = "4/5"', 'intra_node_efficiency = "' + "9" * 40 + '"'), "fitted.intra_node_efficiency"),
])
def test_a_hostile_cluster_file_is_one_line_naming_file_and_key(tmp_path, cli, edit, where):
    p = tmp_path / "lab.toml"
    p.write_text(CLUSTER.replace(*edit))
    r = cli("time", "gpt2-small", "--hw", str(p))
    assert r.code == 2 and r.out == "" and r.err.count("\n") == 1
    assert str(p) in r.err and where in r.err, r.err
    with pytest.raises(AttncalcError):
        load_hardware(str(p))
