"""Encoder-decoder (T5) and hybrid (Jamba) models against PyTorch + transformers.

Expected numbers are read from tests/golden/golden_2026.json (made by make_golden_2026.py on the
meta device: ``sum(p.numel())``, the named parameters' shapes of each layer kind, and
FlopCounterMode forward / forward+backward); nothing here computes them by hand. The only
adjustment is documented at ``test_forward_backward``: FlopCounterMode's formula for a grouped
(depthwise) convolution's weight gradient ignores the groups.
"""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attncalc import load_model
from attncalc.core.evaluate import count_params, decode, forward, training
from attncalc.core.figures import params_of
from attncalc.core.memory.cache import kv_cache
from attncalc.core.workload import Convention
from attncalc.spec.arch import Architecture

from .conftest import GOLDEN

G = json.loads((GOLDEN / "golden_2026.json").read_text())["models"]
MODELS = ["t5-base", "defaults-t5", "jamba-v0.1", "defaults-jamba"]
FULL_MATMUL = Convention(attention="full", ops="matmul")  # what FlopCounterMode counts (eager attention)
CASES = [(m, s) for m in MODELS for s in sorted(G[m]["flops"])]


def arch(name: str) -> Architecture:
    return load_model(str(GOLDEN / G[name]["config"]))


# transformers' parameter names -> (path in our block kind, how the per-head pieces stack into the
# fused tensor: "rows" (heads stacked as rows: W_Q, W_K, W_V), "cols" (W_O), or "same").
T5_NAMES = [
    (r"SelfAttention\.q\.weight$", "attention.heads.head.query", "rows"),
    (r"SelfAttention\.k\.weight$", "attention.heads.head.key", "rows"),
    (r"SelfAttention\.v\.weight$", "attention.heads.head.value_down", "rows"),
    (r"SelfAttention\.o\.weight$", "attention.heads.head.value_up", "cols"),
    (r"EncDecAttention\.q\.weight$", "cross_attention.heads.head.query", "rows"),
    (r"EncDecAttention\.k\.weight$", "cross_attention.heads.head.key", "rows"),
    (r"EncDecAttention\.v\.weight$", "cross_attention.heads.head.value_down", "rows"),
    (r"EncDecAttention\.o\.weight$", "cross_attention.heads.head.value_up", "cols"),
    (r"layer_norm\.weight$", "norms.norm", "same"),
    (r"DenseReluDense\.wi\.weight$", "mlp.up", "same"),
    (r"DenseReluDense\.wi_0\.weight$", "mlp.gate", "same"),
    (r"DenseReluDense\.wi_1\.weight$", "mlp.up", "same"),
    (r"DenseReluDense\.wo\.weight$", "mlp.down", "same"),
]
JAMBA_NAMES = [
    (r"self_attn\.q_proj\.weight$", "attention.kv_groups.group.heads.head.query", "rows"),
    (r"self_attn\.k_proj\.weight$", "attention.kv_groups.group.key", "rows"),
    (r"self_attn\.v_proj\.weight$", "attention.kv_groups.group.value_down", "rows"),
    (r"self_attn\.o_proj\.weight$", "attention.kv_groups.group.heads.head.value_up", "cols"),
    (r"mamba\.in_proj\.weight$", "mamba.in_proj", "same"),
    (r"mamba\.conv1d\.weight$", "mamba.conv", "same"),
    (r"mamba\.conv1d\.bias$", "mamba.conv_bias", "same"),
    (r"mamba\.x_proj\.weight$", "mamba.x_proj", "same"),
    (r"mamba\.dt_proj\.weight$", "mamba.dt_proj", "same"),
    (r"mamba\.dt_proj\.bias$", "mamba.dt_bias", "same"),
    (r"mamba\.A_log$", "mamba.A_log", "same"),
    (r"mamba\.D$", "mamba.D", "same"),
    (r"mamba\.out_proj\.weight$", "mamba.out_proj", "same"),
    (r"mamba\.dt_layernorm\.weight$", "mamba.dt_norm", "same"),
    (r"mamba\.b_layernorm\.weight$", "mamba.b_norm", "same"),
    (r"mamba\.c_layernorm\.weight$", "mamba.c_norm", "same"),
    (r"(input_layernorm|pre_ff_layernorm)\.weight$", "norms.norm", "same"),
    (r"feed_forward\.gate_proj\.weight$", "mlp.gate", "same"),
    (r"feed_forward\.up_proj\.weight$", "mlp.up", "same"),
    (r"feed_forward\.down_proj\.weight$", "mlp.down", "same"),
    (r"feed_forward\.router\.weight$", "mlp.router", "same"),
    (r"feed_forward\.experts\.gate_up_proj$", ("mlp.expert.gate", "mlp.expert.up"), "experts_rows"),
    (r"feed_forward\.experts\.down_proj$", "mlp.expert.down", "experts"),
]


def our_shape(kind, path: str, how: str) -> tuple[int, ...]:
    """The fused shape transformers stores, assembled from our per-head / per-expert leaves."""
    node, copies = kind, 1
    for name in path.split("."):
        node = node.child(name)
        if name != path.split(".")[-1]:
            copies *= node.count
    r, c = node.shape
    if how == "rows":
        return (copies * r, c)
    if how == "cols":
        return (r, copies * c)
    return (r,) if c == 1 else (r, c)


def golden_shape(name: str, shape: list[int]) -> tuple[int, ...]:
    if re.search(r"conv1d\.weight$", name):  # Conv1d(d_inner, d_inner, d_conv, groups=d_inner): [d_inner, 1, d_conv]
        assert shape[1] == 1
        return (shape[0], shape[2])
    return tuple(shape)


def check_shapes(kind, shapes: dict[str, list[int]], names) -> None:
    for pname, shape in shapes.items():
        hits = [(path, how) for pat, path, how in names if re.search(pat, pname)]
        if "relative_attention_bias" in pname:
            continue  # a model-level table here; checked in test_params_by_part
        assert len(hits) == 1, f"no single mapping for {pname}"
        path, how = hits[0]
        if how == "experts_rows":  # [E, 2 d_ff, d]: gate and up of every expert
            gate, up = (our_shape(kind, p, "same") for p in path)
            experts = kind.get("mlp.expert").count
            assert (experts, gate[0] + up[0], gate[1]) == tuple(shape), pname
        elif how == "experts":
            experts = kind.get("mlp.expert").count
            assert (experts, *our_shape(kind, path, "same")) == tuple(shape), pname
        else:
            assert our_shape(kind, path, how) == golden_shape(pname, shape), pname


@pytest.mark.parametrize("name", MODELS)
def test_totals_and_active(name):
    g = G[name]
    p = params_of(arch(name))
    assert p.total == g["params_total"]
    if g["params_active"] is not None:
        assert p.conventions.active == g["params_active"]
    if g["moe"]:
        assert g["moe"]["moe_layers"] == sum(k.count for k in p.kinds if k.mlp_active_per_block != k.mlp_per_block)


@pytest.mark.parametrize("name", MODELS)
def test_params_by_part(name):
    g, a = G[name]["params_by_name"], arch(name)
    tree = count_params(a)
    assert tree.get("embedding.token").total == g["embed_tokens"]
    assert tree.total_at("unembedding") == g["lm_head"]
    assert tree.total_at("final_norm") == g["rest"]
    kinds = tree.get("blocks").children
    if a.is_encoder_decoder:  # T5: each stack's relative-position table sits in its block 0 there
        for stack in ("encoder", "decoder"):
            ours = tree.get(f"blocks.{stack}").total + tree.get(f"embedding.{stack}_relative").total
            assert ours == g["stacks"][f"{stack}.block"]["total"]
            assert tree.get(f"blocks.{stack}").count == g["stacks"][f"{stack}.block"]["num_layers"]
    else:
        assert sum(k.total for k in kinds) == g["stacks"]["model.layers"]["total"]
        assert sum(k.count for k in kinds) == g["stacks"]["model.layers"]["num_layers"]


@pytest.mark.parametrize("name", MODELS)
def test_layer_kinds_totals_and_shapes(name):
    a = arch(name)
    tree = count_params(a)
    kinds = tree.get("blocks").children
    golden = G[name]["layer_kinds"]
    if a.is_encoder_decoder:
        for stack in ("encoder", "decoder"):
            ours = tree.get(f"blocks.{stack}")
            table = tree.get(f"embedding.{stack}_relative")
            theirs = sorted((k for k in golden if k["stack"] == f"{stack}.block"), key=lambda k: k["first_index"])
            assert sum(k["count"] for k in theirs) == ours.count
            first, rest = theirs
            assert first["total"] == ours.each + table.total  # block 0 holds the stack's bucket table
            assert rest["total"] == ours.each
            assert first["param_shapes"][next(n for n in first["param_shapes"] if "relative_attention_bias" in n)] \
                == list(table.shape)
            for k in theirs:
                check_shapes(ours, k["param_shapes"], T5_NAMES)
    else:
        theirs = sorted(golden, key=lambda k: k["first_index"])
        assert [k["count"] for k in theirs] == [k.count for k in kinds]
        assert [k["total"] for k in theirs] == [k.each for k in kinds]
        for ours, k in zip(kinds, theirs):
            mixer = "mamba" if ours.get("mamba") else "attention"
            assert {"linear_attention": "mamba", "full_attention": "attention"}[k["labels"]["layer_type"]] == mixer
            check_shapes(ours, k["param_shapes"], JAMBA_NAMES)


def _leaves(tree, names: tuple[str, ...], under: str | None = None) -> int:
    return sum(n.value * t for path, n, t in tree.leaves()
               if n.name in names and (under is None or f".{under}." in f".{path}."))


@pytest.mark.parametrize("name,shape", CASES, ids=[f"{m}-{s}" for m, s in CASES])
def test_forward(name, shape):
    g = G[name]["flops"][shape]
    a = arch(name)
    enc = g.get("encoder_seq")
    if enc is not None:
        assert g["decoder_seq"] == g["seq"]
    fwd = forward(a, g["batch"], g["seq"], FULL_MATMUL, enc)
    assert fwd.total == g["forward"]
    by_op = g["forward_by_op"]
    core = _leaves(fwd, ("scores", "weighted_values"))
    if a.has_mamba:
        # conv1d is aten.convolution; the scan readout, the attention core and (batched_mm) the routed
        # experts are aten.bmm; the projections, the MLPs and the logits aten.mm
        conv = _leaves(fwd, ("conv", "conv_padding"), "mamba")
        assert conv == by_op["aten.convolution"]
        experts = sum(n.total * t // n.count for path, n, t in fwd.walk() if n.name == "expert")
        assert experts == g["moe_check"]["routed_expert_flops"]
        assert core + _leaves(fwd, ("readout",), "mamba") + experts == by_op["aten.bmm"]
    else:  # T5: the attention cores (self and cross) are aten.bmm, every projection aten.mm
        assert core == by_op["aten.bmm"]
        assert fwd.total - core == by_op["aten.mm"]


@pytest.mark.parametrize("name,shape", CASES, ids=[f"{m}-{s}" for m, s in CASES])
def test_forward_backward(name, shape):
    g = G[name]["flops"][shape]
    a = arch(name)
    train = training(a, g["batch"] * g["seq"], g["seq"], FULL_MATMUL, encoder_seq=g.get("encoder_seq"))
    counted = train["forward"] + train["backward"]
    if a.has_mamba:
        # torch.utils.flop_counter.conv_backward_flop counts a grouped convolution's weight gradient
        # as if it were dense (it ignores `groups`): for the depthwise conv1d (groups = d_inner) that is
        # d_inner x the convolution's forward FLOPs instead of 1 x. Add what it over-counts.
        conv = _leaves(forward(a, g["batch"], g["seq"], FULL_MATMUL), ("conv", "conv_padding"), "mamba")
        counted += (a.mamba_inner - 1) * conv
    assert counted == g["forward_backward"]


def test_t5_decoder_cache_and_cross_cache_per_sequence():
    """The decoder's self-attention K, V per token (12 layers of 2 x 768 bf16 numbers) and the
    cross-attention K, V per sequence scale as the tensors transformers keeps would."""
    a = arch("t5-base")
    small = kv_cache(a, dtype="bf16", batch=1, context=10, encoder_seq=100)
    big = kv_cache(a, dtype="bf16", batch=1, context=10, encoder_seq=200)
    assert small.per_token == big.per_token  # the per-token cache does not see the encoder
    assert big.cross_per_sequence == 2 * small.cross_per_sequence
    tree = count_params(a)
    cross_kv = tree.get("blocks.decoder.cross_attention.heads")
    rows = cross_kv.count * (cross_kv.get("head.key").shape[0] + cross_kv.get("head.value_down").shape[0])
    assert small.cross_per_sequence == tree.get("blocks.decoder").count * rows * 100 * 2


# --- properties -----------------------------------------------------------------------------------

FAST = settings(max_examples=30, deadline=None)


@st.composite
def t5s(draw):
    heads = draw(st.integers(1, 4))
    return Architecture(vocab_size=draw(st.integers(8, 200)), d_model=heads * draw(st.integers(1, 8)),
                        n_layers=draw(st.integers(1, 4)), encoder_layers=draw(st.integers(1, 4)), n_heads=heads,
                        d_head=draw(st.integers(1, 16)), d_ff=draw(st.integers(1, 32)),
                        mlp=draw(st.sampled_from(["standard", "gated"])), activation="relu", norm="rmsnorm",
                        positions="buckets", unembedding=draw(st.sampled_from(["tied", "untied"])))


@FAST
@given(t5s(), st.integers(1, 3), st.integers(1, 40), st.integers(1, 40), st.sampled_from(["auto", "full"]))
def test_encoder_length_changes_only_what_reads_the_encoder(a, batch, seq, enc, mode):
    """At a fixed decoder length, the decoder's self-attention, MLP and logits do not move with
    the encoder's length; the cross-attention's Q and O do not either, its K and V grow linearly."""
    conv = Convention(attention=mode)
    f1, f2 = forward(a, batch, seq, conv, enc), forward(a, batch, seq, conv, enc + 1)
    for path in ("blocks.decoder.attention", "blocks.decoder.mlp", "unembedding"):
        assert f1.total_at(path) == f2.total_at(path)
    f3 = forward(a, batch, seq, conv, enc + 2)
    k = "blocks.decoder.cross_attention"
    assert f3.total_at(k) - f2.total_at(k) == f2.total_at(k) - f1.total_at(k) > 0
    # and the encoder's blocks do not see the decoder's length
    assert forward(a, batch, seq + 1, conv, enc).total_at("blocks.encoder") == f1.total_at("blocks.encoder")


@FAST
@given(t5s(), st.integers(1, 3), st.integers(0, 50), st.integers(1, 50))
def test_decode_runs_the_decoder_only(a, batch, context, enc):
    """A decode step: no encoder FLOPs and no cross K, V projections; its cost does not depend on
    the number of encoder layers, and grows linearly with the encoder length (cross pairs only)."""
    d = decode(a, batch, context, Convention(), enc)
    assert d.get("blocks.encoder") is None
    assert d.get("blocks.decoder.cross_attention.heads.head.key") is None
    deeper = a.replace(encoder_layers=a.encoder_layers + 1)
    assert decode(deeper, batch, context, Convention(), enc).total == d.total
    d2, d3 = decode(a, batch, context, Convention(), enc + 1), decode(a, batch, context, Convention(), enc + 2)
    assert d3.total - d2.total == d2.total - d.total > 0


@st.composite
def hybrids(draw):
    heads = draw(st.sampled_from([1, 2, 4]))
    every = draw(st.integers(2, 5))
    return Architecture(vocab_size=draw(st.integers(8, 200)), d_model=heads * draw(st.integers(1, 8)),
                        n_layers=draw(st.integers(every, 3 * every)), n_heads=heads, d_ff=draw(st.integers(1, 32)),
                        mlp="gated", activation="silu", norm="rmsnorm", positions="none",
                        attention_every=every, attention_offset=draw(st.integers(0, every - 1)),
                        mamba_d_state=draw(st.integers(1, 8)), mamba_d_conv=draw(st.integers(1, 5)),
                        mamba_expand=draw(st.integers(1, 3)))


@FAST
@given(hybrids(), st.integers(1, 3), st.integers(0, 64))
def test_mamba_layers_cost_the_same_at_any_context(a, batch, context):
    """A Mamba layer's decode step and its state do not depend on the context; the KV cache per
    token comes from the attention layers alone."""
    d1, d2 = decode(a, batch, context), decode(a, batch, context + 7)
    mamba_kinds = [k.name for k in d1.get("blocks").children if k.get("mamba")]
    assert mamba_kinds
    for name in mamba_kinds:
        assert d1.total_at(f"blocks.{name}") == d2.total_at(f"blocks.{name}")
    c1, c2 = kv_cache(a, dtype="bf16", batch=batch, context=context), kv_cache(a, dtype="bf16", batch=batch, context=context + 7)
    assert c1.state_per_sequence == c2.state_per_sequence > 0
    every_layer_attention = kv_cache(a.replace(attention_every=1, attention_offset=0), dtype="bf16", batch=1, context=1)
    attention_layers = sum(1 for i in range(a.n_layers) if i % a.attention_every == a.attention_offset)
    assert c1.per_token * a.n_layers == every_layer_attention.per_token * attention_layers


def test_pure_state_space_model_refused(cli, tmp_path):
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"model_type": "mamba", "hidden_size": 768}))
    r = cli("count", str(cfg))
    assert r.code == 2 and r.out == ""
    assert "model_type" in r.err and "state-space" in r.err and len(r.err.strip().splitlines()) == 1


def test_count_t5_shows_both_block_kinds(cli):
    r = cli("count", "t5-base", "--seq", "64", "--encoder-seq", "96", "--format", "json")
    doc = json.loads(r.out)
    assert [(k["name"], k["count"]) for k in doc["params"]["kinds"]] == [("encoder", 12), ("decoder", 12)]
    assert doc["flops"]["workload"]["encoder_seq"] == 96
    table = cli("count", "t5-base", "--seq", "64")
    assert table.code == 0 and "12 × encoder block" in table.out and "12 × decoder block" in table.out


@pytest.mark.parametrize("name", ["t5-base", "jamba-v0.1"])
@pytest.mark.parametrize("batch,context", [(1, 1), (3, 100), (2, 4096)])
def test_serving_cache_at_tp1_is_counts_cache(name, batch, context):
    """`fit --serve` at tp = 1 keeps what `count` says the cache holds: no KV for Mamba layers or
    the encoder, the per-sequence cross K, V and Mamba state included."""
    from attncalc.core.memory.serving import ServingSetup, kv_cache_per_gpu

    a = arch(name)
    assert kv_cache_per_gpu(a, ServingSetup(batch=batch, context=context)) == \
        kv_cache(a, dtype="bf16", batch=batch, context=context).total


def test_explain_steps_agree_with_count(cli):
    """`explain`'s cross-attention and Mamba steps end on the figures `count` reports."""
    doc = json.loads(cli("count", "t5-base", "--seq", "40", "--format", "json").out)
    steps = json.loads(cli("explain", "t5-base", "--seq", "40", "--format", "json").out)["steps"]
    cross = [s for s in steps if s["section"] == "cross-attention (encoder-decoder)"]
    assert cross and any(s["result"] == doc["params"]["cross_attention"] for s in cross)
    jamba = str(GOLDEN / G["jamba-v0.1"]["config"])
    doc = json.loads(cli("count", jamba, "--seq", "40", "--format", "json").out)
    steps = json.loads(cli("explain", jamba, "--seq", "40", "--format", "json").out)["steps"]
    mamba = [s for s in steps if s["section"] == "the Mamba mixer (hybrid)"]
    assert any(s["result"] == doc["params"]["mamba"] for s in mamba)
    assert any(s["result"] == doc["memory"]["kv_cache"]["state_per_sequence"] for s in mamba)


@pytest.mark.parametrize("value", ["0", "-3", "x"])
def test_bad_encoder_seq_refused(cli, value):
    r = cli("count", "t5-base", "--encoder-seq", value)
    assert r.code == 2 and r.out == "" and "encoder-seq" in r.err


def test_encoder_seq_refused_without_an_encoder(cli):
    r = cli("count", "gpt2-small", "--encoder-seq", "5")
    assert r.code == 2 and r.out == "" and "--encoder-seq" in r.err
