"""The peak memory of a training step (core.memory.peak) against what PyTorch measures and traces.

- tests/golden/memory/h200_peaks.json: three peaks measured on one H200 (issue 17). They are the
  only measurements there are, and nothing in the model is fitted to them: each prediction is a
  walk over the model's description under the framework's stated rules.
- tests/golden/memory/peak_trace.json: the live bytes of one training step of transformers' Llama
  and GPT-2 at small shapes, traced tensor by tensor on CPU with CUDA's autocast policy
  (tests/golden/make_peak_trace.py): every phase of the model against the trace.
- Properties over models of several block kinds: phases grow with the micro-batch, the peak is the
  largest phase, the figures are walks over the kinds (never one block times n_layers).
"""

from __future__ import annotations

import json
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st_

from attncalc.core.evaluate import count_params
from attncalc.core.memory.activations import ActivationSettings
from attncalc.core.memory.peak import BLOCK, PHASES, RULES, PeakSettings, peak_memory
from attncalc.core.parts.model import block_kinds, describe
from attncalc.errors import WorkloadError
from attncalc.spec.arch import Architecture
from attncalc.spec.load import load_model

GOLDEN = Path(__file__).resolve().parent / "golden"
MEASURED = json.loads((GOLDEN / "memory" / "h200_peaks.json").read_text())
TRACED = json.loads((GOLDEN / "memory" / "peak_trace.json").read_text())
CONFIGS = GOLDEN / "hf_configs_2026"


def predict(model: str | Architecture, seq: int, micro_batch: int, recompute: str = "none", flash: bool = True,
            dropout: bool = False, **kw):
    a = load_model(model) if isinstance(model, str) else model
    st = ActivationSettings(seq=seq, micro_batch=micro_batch, recompute=recompute, flash=flash, dropout=dropout)
    return peak_memory(a, PeakSettings(activations=st, **kw))


def row_prediction(row: dict, **change):
    args = {k: row[k] for k in ("model", "seq", "micro_batch", "recompute", "flash", "dropout")}
    return predict(**{**args, **change})


# --- the three measured peaks ---------------------------------------------------------------------

@pytest.mark.parametrize("row", MEASURED["rows"], ids=[r["name"] for r in MEASURED["rows"]])
def test_measured_peak_within_ten_percent(row):
    """Issue 17's acceptance: within ±10 % of each measured peak."""
    got = row_prediction(row).total
    assert abs(Fraction(got, row["measured_bytes"]) - 1) <= Fraction(1, 10), (got, row["measured_bytes"])


@pytest.mark.parametrize("row", MEASURED["rows"], ids=[r["name"] for r in MEASURED["rows"]])
def test_measured_peak_within_one_percent(row):
    """Closer than the acceptance asks: the rules name every tensor the step holds at its peak, so the
    prediction is off only by what they leave out (step counters, token ids, allocator splits)."""
    got = row_prediction(row).total
    assert abs(Fraction(got, row["measured_bytes"]) - 1) <= Fraction(1, 100), (got, row["measured_bytes"])


def test_every_measured_peak_is_the_log_softmax_backward():
    """At these shapes the step peaks at its first backward node: every saved activation still held
    and three fp32 tensors of tokens × vocabulary (the log-softmax output and two gradients)."""
    for row in MEASURED["rows"]:
        r = row_prediction(row)
        assert r.peak.name == "loss backward"
        assert r.peak.total > r.phase("forward end").total


def test_the_korthikanti_accounting_misses_what_the_framework_holds():
    """The terms this model adds to a sum of 16-bit activations are large: the fp32 residual stream,
    per-projection bf16 copies, autocast's weight copies, the loss's fp32 tensors."""
    row = MEASURED["rows"][0]
    r = row_prediction(row)
    kinds = r.kinds
    assert len(kinds) == 1 and kinds[0].layers == 16
    names = {t.name for t in kinds[0].tensors}
    assert {"qkv_input (bf16 copy 1 of 3)", "qkv_input (bf16 copy 3 of 3)", "mlp_input (bf16 copy 2 of 2)",
            "norm_1_input (fp32)", "norm_1_normalized (fp32)"} <= names
    peak = r.peak
    v, tokens = 128256, 4 * 2048
    assert peak.term("log-softmax output (fp32)") == 4 * v * tokens
    assert peak.term("autocast weight copies (bf16, held by the graph)") == 2 * (count_params(load_model("llama-3.2-1b")).total - 2048 * 33)


def test_gpt2_as_filed_eager_cannot_be_the_measured_run():
    """The issue files the GPT-2 run as eager attention holding the S × S scores. Eager attention
    with dropout keeps 7 bytes per (query, key) pair per head and layer under autocast; the model
    then predicts far above the measurement, while transformers' default SDPA (flash, dropout in
    the kernel) agrees with it. The golden row records both."""
    row = next(r for r in MEASURED["rows"] if r["model"] == "gpt2-small")
    eager = row_prediction(row, flash=False)
    assert eager.total > Fraction(13, 10) * row["measured_bytes"]
    pairs = 12 * 8 * 12 * 1024 * 1024
    kept = {t.name: t.nbytes for t in eager.kinds[0].tensors}
    assert kept["softmax_output (fp32)"] + kept["softmax_dropout_mask"] + kept["attention_dropout_output"] == 7 * pairs // 12


# --- the traced step at small shapes --------------------------------------------------------------

def traced_arch(case: dict) -> Architecture:
    k = case["config"]
    if case["model"] == "llama":
        return Architecture(vocab_size=k["vocab_size"], d_model=k["hidden_size"], n_layers=k["num_hidden_layers"],
                            n_heads=k["num_attention_heads"], n_kv_heads=k["num_key_value_heads"], d_head=k["head_dim"],
                            d_ff=k["intermediate_size"], mlp="gated", activation="silu", norm="rmsnorm",
                            positions="rotary", unembedding="tied", family="llama", n_ctx=k["max_position_embeddings"])
    return Architecture(vocab_size=k["vocab_size"], d_model=k["n_embd"], n_layers=k["n_layer"], n_heads=k["n_head"],
                        activation="gelu", qkv_bias=True, out_bias=True, mlp_bias=True, norm="layernorm",
                        positions="learned", n_ctx=k["n_positions"], unembedding="tied", family="gpt2")


def traced_prediction(case: dict):
    # the trace sees the memory ops return: no cuBLAS workspace
    return predict(traced_arch(case), case["seq"], case["batch"], case.get("recompute", "none"),
                   case["attention"] == "flash", case["model"] == "gpt2", keep_outputs=case.get("keep_outputs", False),
                   blas_threads=0)


@pytest.mark.parametrize("case", TRACED["cases"], ids=[c["name"] for c in TRACED["cases"]])
def test_phases_against_the_trace(case):
    """Phase by phase against PyTorch's own autograd: the forward end, the loss backward and the
    optimizer step to 0.2 % (what is left: token ids, labels, step counters, the rotary buffers);
    the block backward, whose working gradients are a stated approximation, to 2 %; the embedding
    backward from below (CPU's embedding_dense_backward allocates scratch CUDA's does not)."""
    r = traced_prediction(case)
    assert r.params == case["params"]
    got = {p.name: p.total for p in r.phases}
    want = case["traced"]
    assert set(got) == set(PHASES)
    for name in ("forward end", "loss backward", "optimizer step"):
        assert abs(Fraction(got[name], want[name]) - 1) <= Fraction(2, 1000), (name, got[name], want[name])
    assert abs(Fraction(got["block backward"], want["block backward"]) - 1) <= Fraction(2, 100)
    assert got["embedding backward"] <= want["embedding backward"]
    assert r.peak.name == max(want, key=want.get)


def test_the_trace_tells_the_attention_kinds_apart():
    """Eager attention keeps the scores (fp32 softmax output and its bf16 cast, or the dropout
    mask and output); flash keeps its log-sum-exp: the model follows the trace's difference."""
    cases = {c["name"]: c for c in TRACED["cases"]}
    for flash, eager in (("llama-flash", "llama-eager"), ("gpt2-flash-dropout", "gpt2-eager-dropout")):
        got = traced_prediction(cases[eager]).phase("loss backward").total - \
            traced_prediction(cases[flash]).phase("loss backward").total
        want = cases[eager]["traced"]["loss backward"] - cases[flash]["traced"]["loss backward"]
        assert abs(got - want) <= 2 * BLOCK, (got, want)


# --- properties over models of several block kinds ------------------------------------------------

MULTI = {name: load_model(str(CONFIGS / f"{name}.json")) for name in ("gemma-3-27b", "deepseek-v3", "jamba-v0.1")}
MULTI["t5-base"] = load_model("t5-base")
MULTI["llama-3.2-1b"] = load_model("llama-3.2-1b")
MULTI["gpt2-small"] = load_model("gpt2-small")


@pytest.mark.parametrize("name", sorted(MULTI))
def test_parameters_are_count_s(name):
    a = MULTI[name]
    assert predict(a, 256, 1).params == count_params(a).total


@pytest.mark.parametrize("name", sorted(MULTI))
@settings(max_examples=8, deadline=None)
@given(seq=st_.sampled_from([128, 512, 2048]), b=st_.integers(1, 6), recompute=st_.sampled_from(["none", "full"]),
       flash=st_.booleans(), dropout=st_.booleans())
def test_phases_grow_with_the_micro_batch(name, seq, b, recompute, flash, dropout):
    a = MULTI[name]
    one = predict(a, seq, b, recompute, flash, dropout)
    two = predict(a, seq, b + 1, recompute, flash, dropout)
    for p, q in zip(one.phases, two.phases):
        assert p.name == q.name
        assert q.total >= p.total
    for name_ in ("forward end", "loss backward"):
        assert two.phase(name_).total > one.phase(name_).total
    assert one.peak.total == max(p.total for p in one.phases)
    assert all(one.peak.total >= p.total for p in one.phases)


@pytest.mark.parametrize("name", sorted(MULTI))
def test_every_term_is_named_rounded_and_sourced(name):
    r = predict(MULTI[name], 1024, 2, dropout=True)
    assert [p.name for p in r.phases] == list(PHASES)
    for p in r.phases:
        for t in p.terms:
            assert t.nbytes >= 0, (p.name, t.name)
            assert t.rule in RULES and t.assumes
    for k in r.kinds:
        for t in k.tensors:
            assert t.rule in RULES and t.nbytes % BLOCK == 0


@pytest.mark.parametrize("name", sorted(MULTI))
def test_saved_activations_are_a_walk_over_the_kinds(name):
    a = MULTI[name]
    r = predict(a, 1024, 1)
    kinds = block_kinds(describe(a))
    assert [(k.kind, k.layers) for k in r.kinds] == [(k.name, k.count) for k in kinds]
    saved = r.phase("forward end").term("saved activations (all layers)")
    assert saved == sum(k.per_layer * k.layers for k in r.kinds)
    if len({k.per_layer for k in r.kinds}) > 1:  # one block x n_layers would be wrong here
        main = max(r.kinds, key=lambda k: k.layers)
        assert saved != main.per_layer * sum(k.layers for k in r.kinds)


@pytest.mark.parametrize("name", sorted(MULTI))
def test_full_recomputation_holds_less(name):
    a = MULTI[name]
    none, full = predict(a, 2048, 2), predict(a, 2048, 2, "full")
    for phase in ("forward end", "loss backward", "block backward"):
        assert full.phase(phase).total <= none.phase(phase).total


def test_kinds_differ_where_the_description_says():
    """DeepSeek-V3's dense and MoE layers keep different tensors, and its multi-kind walk says so."""
    r = predict(MULTI["deepseek-v3"], 1024, 1)
    per = {k.kind: k.per_layer for k in r.kinds}
    assert set(per) == {"dense", "moe"} and per["dense"] != per["moe"]
    assert any("not traced" in n for n in r.approximate)


def test_keep_outputs_holds_the_logits_through_the_backward():
    row = MEASURED["rows"][0]
    kept = row_prediction(row, keep_outputs=True)
    dropped = row_prediction(row)
    assert kept.phase("loss backward").total - dropped.phase("loss backward").total >= 2 * 128256 * 4 * 2048


def test_foreach_adamw_costs_one_parameter_sized_temporary():
    row = MEASURED["rows"][0]
    fused, foreach = row_prediction(row), row_prediction(row, optimizer="adamw-foreach")
    assert foreach.phase("optimizer step").total - fused.phase("optimizer step").total == 4 * fused.params


@pytest.mark.parametrize("bad", [dict(tp=2), dict(recompute="selective"), dict(sequence_parallel=True)])
def test_refuses_what_it_does_not_model(bad):
    st = replace(ActivationSettings(seq=128, flash=True, dropout=False), **bad)
    with pytest.raises(WorkloadError):
        peak_memory(load_model("gpt2-small"), PeakSettings(activations=st))
    with pytest.raises(WorkloadError):
        peak_memory(load_model("gpt2-small"), PeakSettings(framework="megatron"))


# --- end to end: `attncalc fit --framework pytorch-autocast` (the hook in cli/fit.py) -------------

@pytest.mark.parametrize("row", MEASURED["rows"], ids=[r["name"] for r in MEASURED["rows"]])
def test_fit_prints_the_peak_with_every_term_named(row, cli):
    args = ["fit", row["model"], "--seq", str(row["seq"]), "--micro-batch", str(row["micro_batch"]),
            "--recompute", row["recompute"], "--flash" if row["flash"] else "--no-flash",
            "--dropout" if row["dropout"] else "--no-dropout", "--framework", "pytorch-autocast"]
    doc = json.loads(cli(*args, "--format", "json").out)["memory"]["peak"]
    assert abs(Fraction(doc["total"], row["measured_bytes"]) - 1) <= Fraction(1, 10)
    assert doc["total"] == row_prediction(row).total and doc["framework"] == "pytorch-autocast"
    peak = next(p for p in doc["phases"] if p["name"] == doc["phase"])
    assert sum(t["bytes"] for t in peak["terms"]) == doc["total"]
    assert all(t["rule"] in doc["rules"] for t in peak["terms"])
    table = cli(*args, "--format", "markdown").out
    for t in peak["terms"]:
        if t["bytes"]:
            assert t["name"] in table and f"{t['bytes']:,}" in table
    assert "framework pytorch-autocast" in table


def test_fit_default_accounting_is_unchanged(cli):
    doc = json.loads(cli("fit", "gpt2-small", "--seq", "1024", "--format", "json").out)
    assert "peak" not in doc["memory"]
    r = cli("fit", "gpt2-small", "--framework", "pytorch-autocast", "--tp", "2")
    assert r.code == 2 and "one GPU" in r.err
