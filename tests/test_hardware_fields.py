"""The hardware files' node, link, fp64 and fitted fields: datasheet figures as printed, every table
cited, every fitted constant naming measurements that exist in tests/golden."""

from __future__ import annotations

import json
import re

import pytest

from attncalc.spec.hardware import hardware_names, load_hardware

from .conftest import ROOT


@pytest.mark.parametrize("name, fp64, vector", [
    ("h100-sxm", 67, 34), ("h200", 67, 34),  # H100 / H200 datasheets: FP64 34, FP64 Tensor Core 67 TFLOPS
    ("h100-pcie", 51, 26), ("a100-80gb-sxm", 19.5, 9.7), ("a100-40gb-sxm", 19.5, 9.7),
    ("mi300x", 163.4, 81.7),  # Peak FP64 Matrix / Vector
])
def test_fp64_peaks_are_the_printed_ones(name, fp64, vector):
    h = load_hardware(name)
    assert h.dense["fp64"] == round(fp64 * 10**12) and h.dense["fp64_vector"] == round(vector * 10**12)
    assert h.peak("double") == h.dense["fp64"]


def test_time_in_double_reads_the_fp64_tensor_core_peak(cli):
    r = cli("time", "gpt2-small", "--hw", "h200", "--dtype", "double", "--format", "json")
    assert r.code == 0 and json.loads(r.out)["time"]["peak_flops_per_s"] == 67 * 10**12


def test_every_node_table_is_cited_and_every_fit_names_existing_measurements():
    for name in hardware_names():
        h = load_hardware(name)
        for link in (h.intra_node, h.inter_node):
            if link is not None:
                assert "datasheet" in link.source.lower(), name
        if h.fitted:
            files = re.findall(r"tests/golden/[\w/.-]+\.json", h.fitted.fitted_on)
            assert files and all((ROOT / f).exists() for f in files), name
            assert "held out" in h.fitted.fitted_on
        if h.inter_node:
            assert h.gpus_per_node and h.inter_node.count >= 1


def test_dgx_nodes_as_printed():
    """DGX H100/H200: 8 GPUs, 900 GB/s NVLink per GPU (both directions), 8 x 400 Gb/s ConnectX-7."""
    for name in ("h100-sxm", "h200"):
        h = load_hardware(name)
        assert (h.gpus_per_node, h.sm_count, h.generation) == (8, 132, "hopper")
        assert h.intra().bytes_per_s * 2 == h.interconnect_bytes_per_s == 900 * 10**9 and h.intra().nvls
        assert h.inter_node.bytes_per_s * 8 == 400 * 10**9 and h.inter_node.count == 8
    assert not load_hardware("a100-80gb-sxm").intra().nvls  # second-generation NVSwitch


def test_shipped_files_hold_no_floats_and_no_unknown_tables():
    import tomllib

    for p in (ROOT / "hardware").glob("*.toml"):
        data = tomllib.loads(p.read_text())
        assert set(data) <= {"label", "kind", "generation", "source", "memory_bytes", "memory_bytes_per_s",
                             "interconnect", "interconnect_bytes_per_s", "interconnect_bidirectional", "sm_count",
                             "gpus_per_node", "power_w", "intra_node", "inter_node", "fitted", "dense_flops_per_s",
                             "sparse_flops_per_s"}, p.name
