"""`attncalc sweep`: the closed-form memory equals `fit`'s plan, the pruned search equals the
exhaustive one, the output does not depend on --workers, and published layouts come out at or near
the top (or the output says why another wins)."""

from __future__ import annotations

import json
import random
from fractions import Fraction

import pytest

from attncalc.core.memory.activations import ActivationSettings
from attncalc.core.memory.layout import Parallelism
from attncalc.core.memory.plan import MemorySettings, memory_plan
from attncalc.core.sweep.memory import Layout, MemorySetup, TrainingMemoryModel
from attncalc.core.sweep.search import SweepSetup, sweep
from attncalc.core.sweep.space import Space
from attncalc.core.sweep.timing import prepare
from attncalc.core.sweep.verdict import parts, regions
from attncalc.errors import WorkloadError
from attncalc.spec.hardware import load_hardware
from attncalc.spec.load import load_model

from .conftest import GOLDEN

MULTI_KIND = ["gemma-3-27b", "deepseek-v3", str(GOLDEN / "hf_configs_2026" / "jamba-v0.1.json"), "mixtral-8x7b",
              "gpt3", "llama-3.1-405b"]


def _fit_peak(a, ms: MemorySetup, lay: Layout) -> int:
    """`fit`'s own answer: the memory plan of the layout (core.memory.plan, what `attncalc fit` prints)."""
    st = ms.activations(lay)
    plan = memory_plan(a, MemorySettings(train=True, parallel=Parallelism(lay.dp, lay.tp, lay.pp, lay.ep, lay.cp,
                                                                           lay.zero),
                                         activations=st, optimizer=ms.optimizer, allowance=ms.allowance))
    return plan.per_gpu.peak.total


@pytest.mark.parametrize("model", MULTI_KIND)
def test_closed_form_memory_equals_fits_plan(model):
    a = load_model(model)
    rng = random.Random(model)
    for optimizer, seq, B, flash, dropout, allowance in (("adam", 4096, 512, True, False, 0),
                                                         ("adam-8bit", 2048, 96, False, True, 3 << 30)):
        ms = MemorySetup(seq=seq, global_batch=B, optimizer=optimizer, flash=flash, dropout=dropout,
                         capacity_factor=Fraction(5, 4), allowance=allowance)
        mm = TrainingMemoryModel(a, ms)
        checked = 0
        while checked < 12:
            tp, pp, cp = rng.choice([1, 2, 4, 8]), rng.choice([1, 2, 3, 4, 5, 8]), rng.choice([1, 2, 4])
            dp = rng.choice([1, 2, 4, 8, 16])
            eps = [e for e in (1, 2, 4, 8, 16) if (dp * cp) % e == 0 and (e == 1 or a.n_experts % e == 0)]
            b = rng.choice([1, 2, 3])
            if B % (dp * b):
                continue
            lay = Layout(tp, pp, dp, rng.choice(eps), cp, b, rng.choice(["none", "selective", "full"]),
                         rng.choice([tp > 1, False]), rng.choice([1, 2]) if pp > 1 else 1, rng.choice([0, 1, 2, 3]))
            try:
                want = _fit_peak(a, ms, lay)
            except WorkloadError:
                continue  # a layout fit refuses (tp does not divide the heads, …)
            assert mm.peak(lay) == want, (model, lay)
            checked += 1


def _keys(sw):
    t = sw.tally
    return ([r.key for r in t.best], [r.key for r in t.frontier],
            {k: None if v is None else v.key for k, v in t.units.items()})


@pytest.mark.parametrize("model,gpus,batch,seq,gib,mb", [("mixtral-8x7b", 32, 64, 4096, 60, 1),
                                                         ("llama-3.2-1b", 16, 64, 2048, 12, 2)])
def test_pruned_search_equals_the_exhaustive_one(model, gpus, batch, seq, gib, mb):
    a, hw = load_model(model), load_hardware("h100-sxm")
    p = prepare(a, hw, seq=seq)
    space = Space(gpus=gpus, global_batch=batch, seq=seq, max_micro_batch=mb)
    ms = MemorySetup(seq=seq, global_batch=batch)
    budget = gib << 30  # tight enough that memory binds and the frontier is long
    full = sweep(a, SweepSetup(space, ms, budget, 8, top=8, exhaustive=True), p)
    pruned = sweep(a, SweepSetup(space, ms, budget, 8, top=8), p)
    assert full.tally.timed > pruned.tally.timed  # the pruning pruned
    assert full.tally.best and _keys(full) == _keys(pruned)
    assert full.tally.candidates == pruned.tally.candidates


SMALL = ("sweep", "mixtral-8x7b", "--hw", "h100-sxm", "--gpus", "32", "--global-batch", "64", "--seq", "4096",
         "--max-micro-batch", "1", "--gpu-memory", "60GiB", "--price-per-gpu-hour", "2.5")


@pytest.mark.parametrize("fmt", ["json", "table", "csv"])
def test_workers_print_the_same_bytes(cli, fmt):
    one = cli(*SMALL, "--workers", "1", "--format", fmt)
    two = cli(*SMALL, "--workers", "2", "--format", fmt)
    assert one.code == two.code == 0, one.err + two.err
    assert one.out == two.out and one.out


def test_json_document(cli):
    r = cli(*SMALL, "--format", "json", "--top", "3")
    assert r.code == 0, r.err
    d = json.loads(r.out)
    assert d["candidates"] >= d["fitting"] >= d["timed"] > 0
    assert len(d["results"]) == 3 and d["frontier"] and d["rejected"]
    for key in ("tp", "pp", "dp", "ep", "cp", "micro_batch", "recompute", "zero", "step_s", "memory_per_gpu", "mfu"):
        assert key in d["results"][0]
    steps = [x["step_s"] for x in d["results"]]
    assert steps == sorted(steps)
    assert all(x["memory_per_gpu"] <= 60 << 30 for x in d["results"])
    mems = [x["memory_per_gpu"] for x in d["frontier"]]
    assert mems == sorted(mems, reverse=True) and len(set(mems)) == len(mems)
    # $/M tokens = price x GPUs x step / tokens per step
    x = d["results"][0]
    assert x["dollars_per_million_tokens"] == pytest.approx(2.5 * 32 * x["step_s"] / 3600 / (64 * 4096) * 1e6, rel=1e-4)


@pytest.mark.parametrize("width", ["60", "80", "120"])
def test_page_fits_the_width(cli, monkeypatch, width):
    monkeypatch.setenv("COLUMNS", width)
    r = cli(*SMALL)
    assert r.code == 0, r.err
    assert all(len(line) <= int(width) for line in r.out.splitlines())
    assert "Frontier chart" in r.out and "Why the others lose" in r.out


@pytest.mark.parametrize("args", [("--gpus", "0"), ("--zero", "5"), ("--recompute", "most"), ("--workers", "0"),
                                  ("--sequence-parallel", "maybe"), ("--gpu-memory", "80")])
def test_bad_input_is_one_line(cli, args):
    base = list(SMALL)
    for flag, value in zip(args[::2], args[1::2]):
        if flag in base:
            base[base.index(flag) + 1] = value
        else:
            base += [flag, value]
    r = cli(*base)
    assert r.code == 2 and r.out == "" and len(r.err.strip().splitlines()) == 1, r.err


# --- published layouts ------------------------------------------------------------------------------

def _published(row_id: str, efficiency: Fraction | None, space_kw: dict, memory_kw: dict):
    from .step_rows import rows

    r = next(x for x in rows()[0] if x.id == row_id)
    L, hw = r.layout, load_hardware(r.hw)
    p = prepare(r.arch, hw, seq=r.seq, dtype=r.dtype, efficiency=efficiency, attention=r.attention)
    space = Space(gpus=L.gpus, global_batch=L.batch, seq=r.seq, **space_kw)
    sw = sweep(r.arch, SweepSetup(space, MemorySetup(seq=r.seq, global_batch=L.batch, **memory_kw), hw.memory_bytes,
                                  8, top=5), p)
    unit = next(g for g in regions(sw) if (g.tp, g.pp, g.cp) == (L.tp, L.pp, L.cp))
    return sw, unit


def _near_or_explained(sw, unit) -> None:
    """Within 5 % of the best predicted step, or the reason names the piece of the step that grew."""
    top = sw.tally.best[0]
    if unit.best is None:
        assert unit.reason.startswith("does not fit by") and unit.miss > 0
        return
    if unit.slower <= Fraction(5, 100):
        return
    name = "compute" if unit.reason.startswith("compute") else unit.reason.rsplit(" ", 1)[0]
    mine, theirs = parts(unit.best), parts(top)
    assert name in mine and mine[name] > theirs[name], unit.reason
    assert max(mine[k] - theirs[k] for k in mine) == mine[name] - theirs[name]


@pytest.mark.parametrize("row", ["narayanan2021-t1-1.7b", "narayanan2021-t1-3.6b", "narayanan2021-t1-18.4b",
                                 "narayanan2021-t1-76.1b", "narayanan2021-t1-310.1b"])
def test_narayanan_table1_layouts(row):
    # the publisher's space: no context parallelism, full recomputation, no ZeRO, no sequence parallelism;
    # attention materialized, dropout kept (Megatron-LM 2021)
    # the Ampere matmul constant of the hardware file (fitted on one Korthikanti row, not on these)
    sw, unit = _published(row, None, dict(recompute=("full",), zero=(0,), sequence_parallel=(False,),
                                            max_micro_batch=8, fixed={"cp": 1}), dict(flash=False, dropout=True))
    _near_or_explained(sw, unit)


@pytest.mark.parametrize("gpus,batch,seq,cp", [(8192, 2048, 8192, 1), (16384, 2048, 8192, 1),
                                               (16384, 128, 131072, 16)])
def test_llama3_405b_layouts(gpus, batch, seq, cp):
    # Dubey et al. 2024 Table 4 (tests/golden/runs/registry.json llama3-405b-t4-*): tp 8, pp 16, and cp 1 or 16
    a, hw = load_model("llama-3.1-405b"), load_hardware("h100-sxm")
    space = Space(gpus=gpus, global_batch=batch, seq=seq, max_micro_batch=2, fixed={"cp": cp} if cp == 1 else {})
    sw = sweep(a, SweepSetup(space, MemorySetup(seq=seq, global_batch=batch), hw.memory_bytes, 8, top=5),
               prepare(a, hw, seq=seq))
    unit = next(g for g in regions(sw) if (g.tp, g.pp, g.cp) == (8, 16, cp))
    _near_or_explained(sw, unit)


def test_serve_sweep(cli):
    from attncalc.core.memory.quant import QuantScheme
    from attncalc.core.memory.serving import ServingSetup, serving_per_gpu

    r = cli("sweep", "llama-3.1-8b", "--hw", "h100-sxm", "--gpus", "8", "--serve", "--context", "8192",
            "--quant", "bf16,fp8", "--kv-dtype", "bf16,fp8", "--gpu-memory", "40GiB", "--format", "json")
    assert r.code == 0, r.err
    d = json.loads(r.out)
    res = d["results"]
    assert d["candidates"] > d["fitting"] >= len(res) > 0 and d["rejected"]["memory"] > 0
    assert [x["tokens_per_s"] for x in res] == sorted((x["tokens_per_s"] for x in res), reverse=True)
    a = load_model("llama-3.1-8b")
    for x in res:  # `fit --serve`'s arithmetic, and within the budget
        want = serving_per_gpu(a, ServingSetup(batch=x["batch"], context=8192, tp=x["tp"], quant=QuantScheme(x["weights"]),
                                               kv_dtype=x["kv_dtype"])).total
        assert x["memory_per_gpu"] == want <= 40 << 30
    f = d["frontier"]
    assert [x["time_per_token_s"] for x in f] == sorted(x["time_per_token_s"] for x in f)
    assert [x["tokens_per_s"] for x in f] == sorted(x["tokens_per_s"] for x in f)
