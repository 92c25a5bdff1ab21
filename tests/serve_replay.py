"""Replaying tests/golden/engines/serving_measurements.json through core.serve.sim: each published
measurement as a simulation (model, engine, GPUs, layout, workload), or the reason it cannot be
reproduced. Shared by tests/test_serve_sim.py and benchmarks/serve_sim.py.

Groups share one time-model calibration (efficiencies, per-step overhead, per-request overhead),
fitted on ONE named row of the group and checked on the others; a row with no group partner runs on
the time model's defaults (kipply 2022: compute 0.7, memory 0.9; no overheads).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

from attncalc.core.memory.quant import QuantScheme
from attncalc.core.serve.devices import DEVICES
from attncalc.core.serve.engines import EngineSetup, engine_capacity
from attncalc.core.serve.sim import SimSetup, simulate
from attncalc.core.serve.steps import step_costs
from attncalc.core.serve.workload import Lengths, Workload
from attncalc.core.time.setup import Efficiency, Setup
from attncalc.spec.hardware import load_hardware

ROOT = Path(__file__).resolve().parent.parent
DATA = json.loads((ROOT / "tests" / "golden" / "engines" / "serving_measurements.json").read_text())["measurements"]
BY_ID = {m["id"]: m for m in DATA}


@dataclass(frozen=True)
class Row:
    id: str
    model: str  # config path
    engine: str
    version: str
    hw: str
    tp: int
    quant: QuantScheme
    workload: Workload
    policy: str
    group: str  # rows sharing a calibration
    assumptions: tuple[str, ...]


NOT_REPRODUCIBLE = {
    "vllm-18566-llama31-8b-sharegpt": "the GPU is not stated (gpu null), and the ShareGPT prompt/output lengths of the "
                                      "1,000 sampled conversations are not in the record (only their totals)",
    "kubeai-341-llama33-70b-gh200": "the dataset, the number of prompts, the request rate and the engine flags are "
                                    "not stated, and the GH200 is not in the hardware table",
}

DSR1 = "tests/golden/hf_configs_2026/deepseek-v3.json"
FP8_BLOCK = QuantScheme("fp8-block128", "bf16")


def rows() -> list[Row]:
    out = []
    for c in (8, 16, 32, 64):
        out.append(Row(f"inferencex-870-dsr1-fp8-h200-sglang-c{c}", DSR1, "sglang", "0.5.7", "h200", 8, FP8_BLOCK,
                       Workload("closed", None, 10 * c, Lengths("uniform", (819, 1024)),
                                Lengths("uniform", (819, 1024)), max_concurrency=c),
                       "prefill-first", "dsr1-h200x8",
                       ("DeepSeek-R1-0528 described by DeepSeek-V3's config.json (same shapes); FP8 block-128 weights",
                        "the generator is not in the record: InferenceX's benchmark_serving.py runs --random-range-ratio "
                        "0.8 with --num-prompts conc × 10 (its scripts, search ids 59331188726, 68904762461): lengths "
                        "uniform in [819, 1024]; the record's own (E2E − TTFT) / TPOT gives 913-929 output tokens",
                        "no speculative decoding (the server flags are not stated)")))
    for isl, osl, n in ((128, 128, 8), (128, 1024, 4), (1024, 128, 4), (2048, 128, 4), (3072, 128, 4), (4096, 128, 2)):
        out.append(Row(f"tt-356-dsr1-16xh100-sglang-isl{isl}-osl{osl}-c1", DSR1, "sglang", "0.4.9", "h100-sxm", 16,
                       FP8_BLOCK, Workload("closed", None, n, Lengths("fixed", (isl,)), Lengths("fixed", (osl,)),
                                           max_concurrency=1),
                       "prefill-first", "dsr1-h100x16",
                       ("the layout over the 16 GPUs is not stated: tensor parallel 16 over 2 nodes assumed",
                        "DeepSeek-R1-0528 described by DeepSeek-V3's config.json; FP8 block-128 weights")))
    out.append(Row("sglang-1060-llama31-8b-random-8192-8", "tests/golden/hf_configs_2026/llama-3.1-8b.json", "sglang",
                   "0.2.13", "h100-sxm", 1, QuantScheme(), Workload("burst", None, 1000, Lengths("uniform", (1, 8192)),
                                                                     Lengths("uniform", (1, 8))),
                   "prefill-first", "llama8b-h100",
                   ("the GPU is not in the record; the PR concerns an H100 (80GB SXM assumed)",
                    "sglang.bench_serving random dataset: lengths uniform in [1, 8192] and [1, 8] (range ratio 0)")))
    return out


# One calibration per group: fitted on the named row (see fit_group), checked on the others.
FIT_ON = {"dsr1-h200x8": "inferencex-870-dsr1-fp8-h200-sglang-c16",
          "dsr1-h100x16": "tt-356-dsr1-16xh100-sglang-isl128-osl128-c1"}


@dataclass(frozen=True)
class Calib:
    efficiency: Efficiency = Efficiency()
    step_overhead_ns: int = 0
    request_overhead_ns: int = 0


def run(row: Row, cal: Calib = Calib()):
    from attncalc.spec.load import load_model

    a = load_model(str(ROOT / row.model))
    hw = load_hardware(row.hw)
    es = EngineSetup(row.engine, DEVICES[row.hw], row.version, tp=row.tp, quant=row.quant)
    cap = engine_capacity(a, es)
    compute = "fp8" if row.quant.matrices.startswith("fp8") else "bf16"
    setup = Setup(hw, compute, gpus=row.tp, efficiency=cal.efficiency)
    costs = step_costs(a, setup, overhead_ns=cal.step_overhead_ns)
    s = SimSetup(cap, costs, policy=row.policy, request_overhead_ns=cal.request_overhead_ns, seed=0)
    return simulate(s, row.workload)


def measured(row: Row) -> dict:
    """TTFT, TPOT and E2E means (ms) as published."""
    r = BY_ID[row.id]["results"]
    e2e = r.get("e2e_ms") or ({"mean": r["e2e_s"]["mean"] * 1000} if r.get("e2e_s") else None)
    return {"ttft": Fraction(str(r["ttft_ms"]["mean"])), "tpot": Fraction(str(r["tpot_ms"]["mean"])),
            "e2e": Fraction(str(e2e["mean"])) if e2e else None}


def simulated(result) -> dict:
    ms = Fraction(1, 10 ** 6)
    return {"ttft": result.ttft.mean * ms, "tpot": result.tpot.mean * ms if result.tpot else None,
            "e2e": result.e2e.mean * ms}


def _bisect(f, target: Fraction, lo: int, hi: int) -> int:
    """The smallest integer x in [lo, hi] with f(x) >= target (f non-decreasing)."""
    while lo < hi:
        mid = (lo + hi) // 2
        if f(mid) >= target:
            hi = mid
        else:
            lo = mid + 1
    return lo


def fit_group(row: Row) -> Calib:
    """The group's calibration from one row: the per-step overhead (µs) that makes the simulated mean
    time per output token reach the measured one, then the per-request overhead (µs) that makes the
    mean TTFT reach it; the efficiencies stay the time model's defaults."""
    m = measured(row)
    us = 1000
    step = _bisect(lambda x: simulated(run(row, Calib(step_overhead_ns=x * us)))["tpot"], m["tpot"], 0, 200_000)
    req = _bisect(lambda x: simulated(run(row, Calib(step_overhead_ns=step * us, request_overhead_ns=x * us)))["ttft"],
                  m["ttft"], 0, 10_000_000)
    return Calib(Efficiency(), step * us, req * us)
