"""The Mamba-2 hybrids of the 2026 wave (issue 20) against PyTorch + transformers 5.24 on the meta
device (tests/golden/make_golden_wave.py wrote golden_wave.json; tests/golden/WAVE_NOTES.md 1.5,
1.7, 1.8, 2.13, 2.18, 2.20, 2.21 is the spec; nothing here computes an expected number by
attncalc's formulas): bamba (Bamba-9B), falcon_h1 (attention and Mamba-2 side by side in every
layer), granitemoehybrid (Granite-4.0-H: Mamba-2 or attention, routed experts and a shared MLP) and
nemotron_h (one-mixer blocks: Mamba-2, attention, ReLU² MLP or MoE).

Checked: total and active parameters; every layer kind's count, total and mixer / MLP / norm split;
every Mamba-2 parameter's shape; FlopCounterMode's forward at two shapes, op by op (the chunked
SSD's five einsums as ``aten.bmm``, with the sequence padded up to a multiple of the chunk; the conv
as ``aten.convolution``), forward + backward (less FlopCounterMode's depthwise-conv backward
over-count, WAVE_NOTES 1.8), a decode step; the KV cache per token and the fixed state per sequence
of every cache kind. The transformers defaults of bamba and granitemoehybrid are pure state-space
models (every layer Mamba-2): refused by name; their Mamba-2 layer is still checked against the
golden, inside a hybrid made from the same config with one attention layer."""

from __future__ import annotations

import json
from collections import Counter
from math import prod

import pytest

from attncalc import load_model, param_summary
from attncalc.core.evaluate import count_params, decode, forward, training
from attncalc.core.memory.cache import cache_kinds
from attncalc.core.workload import Convention

from .conftest import GOLDEN

WAVE = json.loads((GOLDEN / "golden_wave.json").read_text())["models"]
TYPES = ("bamba", "falcon_h1", "granitemoehybrid", "nemotron_h")
GOLDEN_SSM = {n: m for n, m in WAVE.items() if m["model_type"] in TYPES}
CONFIGS = GOLDEN / "hf_configs_wave"
FULL_MATMUL = Convention(attention="full", ops="matmul")  # what FlopCounterMode counts (eager attention)
# every layer Mamba-2 (transformers' default): a pure state-space model, refused naming the key
REFUSED = {"defaults-bamba": "attn_layer_indices", "defaults-granitemoehybrid": "layer_types"}
EXACT = sorted(set(GOLDEN_SSM) - set(REFUSED))
SSD = ("scores", "intra_chunk", "chunk_states", "state_passing", "state_readout", "step_readout")
CONV = ("conv", "conv_padding", "conv_step")
# transformers' module name of the mixer in each golden layer kind -> ours
MIXER_NAMES = {"mamba": "mamba2", "self_attn": "attention"}


def load(name):
    return load_model(str(CONFIGS / f"{name}.json"))


def test_every_type_has_a_golden():
    assert {m["model_type"] for m in GOLDEN_SSM.values()} == set(TYPES)
    assert set(EXACT) == {"bamba-9b", "defaults-falcon-h1", "defaults-nemotron-h"}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_pure_state_space_defaults_are_refused_by_name(cli, name):
    r = cli("count", str(CONFIGS / f"{name}.json"))
    assert r.code == 2 and r.out == "" and f": {REFUSED[name]}: " in r.err and "pure state-space" in r.err, r.err
    assert len(r.err.strip().splitlines()) == 1


# --- parameters -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", EXACT)
def test_totals_and_active(name):
    g, s = GOLDEN_SSM[name], param_summary(load(name))
    assert s["total"] == g["params_total"]
    assert s["conventions"]["active"] == (g["params_active"] if g["params_active"] is not None else g["params_total"])
    assert s["conventions"]["as_built"] == g["params_total"]


def _kinds(name):
    """(golden layer kind, our kind Node) pairs matched on (count, parameters of one layer)."""
    g = GOLDEN_SSM[name]
    tree = count_params(load(name))
    ours = tree.get("blocks").children
    assert Counter((k.count, k.each) for k in ours) == Counter((k["count"], k["total"]) for k in g["layer_kinds"])
    by = {(k.count, k.each): k for k in ours}
    return [(gk, by[(gk["count"], gk["total"])]) for gk in g["layer_kinds"]]


@pytest.mark.parametrize("name", EXACT)
def test_layer_kinds_and_their_parts(name):
    """Each layer kind's mixers, feed-forward and norms, module by module."""
    for gk, k in _kinds(name):
        ch = dict(gk["children"])
        norms = sum(v for key, v in ch.items() if key.endswith("norm") or key.endswith("layernorm"))
        assert k.total_at("norms") == norms
        if "mixer" in ch:  # Nemotron-H: the block's one module is its mixer or its feed-forward
            (mine,) = [c for c in k.children if c.name in ("mamba2", "attention", "mlp")]
            assert mine.each == ch["mixer"]
            continue
        for theirs, ours in MIXER_NAMES.items():
            assert (k.get(ours).each if k.get(ours) else 0) == ch.get(theirs, 0), (theirs, ch)
        mlp = ch.get("feed_forward", 0) + ch.get("block_sparse_moe", 0) + ch.get("shared_mlp", 0)
        assert k.child("mlp").each == mlp


def _mamba_shapes(sh: dict, prefix: str, node) -> None:
    """Every Mamba-2 parameter's shape, transformers' against ours (the depthwise conv's [C, 1, k]
    is C x k here)."""
    leaves = {leaf.name: leaf.shape for leaf in node.children}
    assert list(leaves["in_proj"]) == sh[f"{prefix}.in_proj.weight"]
    assert list(leaves["out_proj"]) == sh[f"{prefix}.out_proj.weight"]
    c, one, kc = sh[f"{prefix}.conv1d.weight"]
    assert one == 1 and leaves["conv"] == (c, kc)
    assert leaves.get("conv_bias", (0, 1))[0] == prod(sh.get(f"{prefix}.conv1d.bias", [0]))
    for theirs, ours in (("A_log", "A_log"), ("D", "D"), ("dt_bias", "dt_bias")):
        assert leaves[ours][0] == prod(sh[f"{prefix}.{theirs}"])
    assert leaves.get("norm", (0, 1))[0] == prod(sh.get(f"{prefix}.norm.weight", [0]))
    assert sum(r * c for r, c in leaves.values()) == sum(prod(v) for key, v in sh.items() if key.startswith(prefix + "."))


@pytest.mark.parametrize("name", EXACT)
def test_every_mamba2_parameter_shape(name):
    seen = 0
    for gk, k in _kinds(name):
        sh = gk["param_shapes"]
        prefix = "mamba" if "mamba.in_proj.weight" in sh else "mixer"
        if f"{prefix}.in_proj.weight" in sh:
            _mamba_shapes(sh, prefix, k.child("mamba2"))
            seen += 1
    assert seen


# --- FLOPs ----------------------------------------------------------------------------------------


def _sum(tree, names, where=""):
    return sum(n.each * t for p, n, t in tree.walk() if not n.children and n.name in names and where in p)


def _attention_cores(tree):
    return sum(n.each * t for p, n, t in tree.walk()
               if not n.children and n.name in ("scores", "weighted_values") and ".mamba2" not in p)


def _routed(tree):
    return sum(n.each * t for _, n, t in tree.walk() if n.name == "expert")


@pytest.mark.parametrize("name,shape", [(n, sh) for n in EXACT for sh in GOLDEN_SSM[n]["flops"]])
def test_flop_counter_forward_op_by_op(name, shape):
    """The total, and each aten op: the SSD einsums (over the padded sequence), the attention cores
    and the routed experts (batched_mm) are bmm, the conv is convolution, the rest mm."""
    f = GOLDEN_SSM[name]["flops"][shape]
    t = forward(load(name), f["batch"], f["seq"], FULL_MATMUL)
    by_op = f["forward_by_op"]
    assert t.total == f["forward"]
    assert _sum(t, SSD, ".mamba2") + _attention_cores(t) + _routed(t) == by_op["aten.bmm"]
    assert _sum(t, CONV, ".mamba2") == by_op["aten.convolution"]
    assert t.total - by_op["aten.bmm"] - by_op["aten.convolution"] == by_op["aten.mm"]
    if "moe_check" in f:
        assert _routed(t) == f["moe_check"]["routed_expert_flops"]


def _conv_overcount(name, batch, seq):
    """FlopCounterMode's depthwise-conv grad-weight term counts 2 C C B k L_out instead of
    2 C B k L_out (WAVE_NOTES 1.8): the excess, from the golden's conv shapes."""
    out = 0
    for gk in GOLDEN_SSM[name]["layer_kinds"]:
        for key, shape in gk["param_shapes"].items():
            if key.endswith("conv1d.weight"):
                c, _, kc = shape
                out += gk["count"] * 2 * c * (c - 1) * batch * kc * (seq + kc - 1)
    return out


@pytest.mark.parametrize("name", EXACT)
def test_flop_counter_forward_and_backward(name):
    """Training counts 2 x forward for the backward, as FlopCounterMode does op by op
    (forward_backward_by_op: bmm and mm are 3 x forward), but for its depthwise-conv over-count."""
    for f in GOLDEN_SSM[name]["flops"].values():
        a = load(name)
        ours = training(a, f["batch"] * f["seq"], f["seq"], FULL_MATMUL)["total"]
        assert ours == f["forward_backward"] - _conv_overcount(name, f["batch"], f["seq"])
        fb = f["forward_backward_by_op"]
        assert fb["aten.convolution_backward"] - _conv_overcount(name, f["batch"], f["seq"]) == \
            2 * fb["aten.convolution"]


@pytest.mark.parametrize("name", [n for n in EXACT if "decode_step" in GOLDEN_SSM[n]["cache"]])
def test_decode_step(name):
    """One token after a 7-token prefill: the projections, the attention over 8 keys, and per
    Mamba-2 layer the state readout (bmm) and the conv's two output positions."""
    dc = GOLDEN_SSM[name]["cache"]["decode_step"]
    t = decode(load(name), 1, dc["cached_tokens"], FULL_MATMUL)
    assert t.total == dc["forward"]
    assert _sum(t, CONV, ".mamba2") == dc["forward_by_op"]["aten.convolution"]
    assert _sum(t, SSD, ".mamba2") + _attention_cores(t) + _routed(t) == dc["forward_by_op"]["aten.bmm"]


@pytest.mark.parametrize("seq", [1, 100, 255, 256, 257, 1000])
def test_the_chunked_scan_runs_over_the_padded_sequence(seq):
    """The SSD's work is the same for a sequence as for it padded up to the chunk (WAVE_NOTES 1.5),
    and grows only when a chunk is added."""
    a = load("bamba-9b")
    chunk = a.mamba_chunk
    padded = -(-seq // chunk) * chunk
    ssd = [_sum(forward(a, 1, s, FULL_MATMUL), SSD, ".mamba2") for s in (seq, padded)]
    assert ssd[0] == ssd[1] > 0


# --- the cache each layer keeps -------------------------------------------------------------------


def _golden_cache(name):
    """(numbers per new token, fixed numbers per sequence) over every cache layer, from the tensors
    after a 4- and a 7-token prefill (batch 1)."""
    per_token = fixed = 0
    for kind in GOLDEN_SSM[name]["cache"]["kinds"]:
        t4, t7 = kind["tensors_after_prefill_4"], kind["tensors_after_prefill_7"]
        grow = set(kind["per_token_tensors"])
        per_token += kind["count"] * sum(prod(t7[t]) - prod(t4[t]) for t in grow) // 3
        fixed += kind["count"] * sum(prod(t4[t]) for t in t4 if t not in grow)
    return per_token, fixed


@pytest.mark.parametrize("name", EXACT)
def test_cache_per_token_and_state_per_sequence(name):
    kinds = cache_kinds(load(name))
    assert (sum(k.count * k.per_token for k in kinds), sum(k.count * k.per_sequence for k in kinds)) == \
        _golden_cache(name)
    # which layers keep keys and values, which a fixed state (Falcon-H1's both, Nemotron's MLP blocks neither)
    g = GOLDEN_SSM[name]["cache"]["kinds"]
    kv = sum(k["count"] for k in g if k["per_token_tensors"])
    state = sum(k["count"] for k in g if any(t not in k["per_token_tensors"] for t in k["tensors_after_prefill_4"]))
    assert (sum(k.count for k in kinds if k.per_token), sum(k.count for k in kinds if k.per_sequence)) == (kv, state)


def test_falcon_h1_layers_keep_both_a_kv_cache_and_a_state():
    (kind,) = GOLDEN_SSM["defaults-falcon-h1"]["cache"]["kinds"]
    assert kind["cache_layer_class"] == "LinearAttentionAndFullAttentionLayer"
    (k,) = cache_kinds(load("defaults-falcon-h1"))
    assert k.per_token and k.per_sequence and k.count == kind["count"]
    from attncalc.core.serve.layouts import layer_specs

    specs = layer_specs(load("defaults-falcon-h1"), "vllm", tp=1, kv_dtype="auto")
    assert sorted(sp.spec for sp in specs) == ["full", "mamba"] and {sp.kind for sp in specs} == {k.name}


# --- the pure-Mamba defaults' layer, inside a hybrid -----------------------------------------------


@pytest.mark.parametrize("name,key,attention", [("defaults-bamba", "attn_layer_indices", [0]),
                                                ("defaults-granitemoehybrid", "layer_types",
                                                 ["attention"] + ["mamba"] * 31)])
def test_the_defaults_mamba2_layer_inside_a_hybrid(tmp_path, name, key, attention):
    """transformers' default Bamba and Granite-4.0-H are every layer Mamba-2; with layer 0 made an
    attention layer the other 31 are that same layer: its parameters and its forward FLOPs
    (golden forward less the logits, from the golden's lm_head shape, over 32 layers)."""
    g = GOLDEN_SSM[name]
    (gk,) = g["layer_kinds"]
    f = tmp_path / "config.json"
    f.write_text(json.dumps({**json.loads((CONFIGS / f"{name}.json").read_text()), key: attention}))
    a = load_model(str(f))
    tree = count_params(a)
    (mamba,) = [k for k in tree.get("blocks").children if k.get("mamba2") is not None]
    assert mamba.count == gk["count"] - 1 and mamba.each == gk["total"]
    _mamba_shapes(gk["param_shapes"], "mamba", mamba.child("mamba2"))
    fl = g["flops"]["b1_s128"]
    vocab, d = g["non_layer_params"]["lm_head.weight"]
    per_layer, rest = divmod(fl["forward"] - 2 * 128 * vocab * d, gk["count"])
    assert rest == 0
    t = forward(a, 1, 128, FULL_MATMUL)
    (fk,) = [k for k in t.get("blocks").children if k.get("mamba2") is not None]
    assert fk.each == per_layer
    if "moe_check" in fl:
        assert _routed(fk) * gk["count"] == fl["moe_check"]["routed_expert_flops"] * fk.count  # walk counts 31 layers


# --- readers, refusals, explain ----------------------------------------------------------------------


def test_nemotron_h_reads_its_legacy_pattern_as_its_block_list(tmp_path):
    """hybrid_override_pattern (M, *, -, E) and layers_block_type name the same blocks; the list's
    length is the layer count (num_hidden_layers is deprecated and ignored, as transformers does)."""
    body = json.loads((CONFIGS / "defaults-nemotron-h.json").read_text())
    f = tmp_path / "config.json"
    f.write_text(json.dumps({**body, "hybrid_override_pattern": "ME*-", "num_hidden_layers": 52}))
    a = load_model(str(f))
    assert param_summary(a)["total"] == GOLDEN_SSM["defaults-nemotron-h"]["params_total"] and a.n_layers == 4
    f.write_text(json.dumps({**body, "layers_block_type": ["mamba", "moe", "attention", "mlp"]}))
    assert param_summary(load_model(str(f)))["total"] == GOLDEN_SSM["defaults-nemotron-h"]["params_total"]


@pytest.mark.parametrize("config,key", [
    ('{"model_type": "bamba", "attn_layer_indices": [40]}', "attn_layer_indices"),
    ('{"model_type": "bamba", "attn_layer_indices": [3], "mamba_d_head": 48}', "mamba_d_head"),
    ('{"model_type": "bamba", "attn_layer_indices": [3], "mamba_n_groups": 3}', "mamba_n_groups"),
    ('{"model_type": "bamba", "attn_layer_indices": [3], "mamba_n_heads": 100}', "mamba_n_heads"),
    ('{"model_type": "falcon_h1", "mamba_d_ssm": 1000}', "mamba_n_heads"),
    ('{"model_type": "granitemoehybrid", "layer_types": ["mamba", "attention"]}', "layer_types"),
    ('{"model_type": "granitemoehybrid", "layer_types": ["attention"], "num_hidden_layers": 1, '
     '"num_local_experts": 1}', "num_local_experts"),
    ('{"model_type": "granitemoehybrid", "layer_types": ["conv"], "num_hidden_layers": 1}', "layer_types"),
    ('{"model_type": "nemotron_h", "hybrid_override_pattern": "M*X"}', "hybrid_override_pattern"),
    ('{"model_type": "nemotron_h", "layers_block_type": ["mamba", "mlp"]}', "layers_block_type"),
    ('{"model_type": "nemotron_h", "moe_latent_size": 1024}', "moe_latent_size"),
    ('{"model_type": "nemotron_h", "n_groups": 3}', "n_groups"),
])
def test_hostile_configs_are_refused_by_name(cli, tmp_path, config, key):
    f = tmp_path / "config.json"
    f.write_text(config)
    r = cli("count", str(f))
    assert r.code == 2 and r.out == "" and f": {key}: " in r.err and len(r.err.strip().splitlines()) == 1, r.err


def test_show_states_the_defaults_taken(cli):
    r = cli("show", str(CONFIGS / "defaults-falcon-h1.json"))
    assert r.code == 0
    for key in ("mamba_d_ssm", "mamba_n_heads", "mamba_chunk_size", "projectors_bias"):
        assert key in r.out + r.err, key


@pytest.mark.parametrize("name,words", [
    ("bamba-9b", ("the Mamba-2 mixer", "state per sequence", "padded up to a multiple of the chunk", "chunk scores")),
    ("defaults-falcon-h1", ("the Mamba-2 mixer", "conv channels conv_dim")),
])
def test_explain_writes_out_the_mamba2_mixer(cli, name, words):
    r = cli("explain", str(CONFIGS / f"{name}.json"), "--seq", "300", "--plain")
    assert r.code == 0, r.err
    for w in words:
        assert w in r.out, w
    for line in r.out.splitlines():  # every step's result is what its factors say
        if " = " not in line or "%" in line:
            continue
        *_, factors, result = line.rsplit(" = ", 2)
        expr = factors.replace(",", "").replace("×", "*").replace("−", "-")
        if all(c in "0123456789 +-*/()" for c in expr) and expr.strip():
            assert eval(expr) == int(result.replace(",", "")), line  # noqa: S307 (digits and operators only)


def test_count_names_the_kinds_and_the_state(cli):
    r = cli("count", str(CONFIGS / "defaults-nemotron-h.json"), "--format", "json")
    doc = json.loads(r.out)
    assert r.code == 0
    r = cli("count", str(CONFIGS / "bamba-9b.json"))
    assert "Mamba-2 state per sequence" in r.out and "29 × mamba2 block" in r.out
    assert doc["params"]["total"] == GOLDEN_SSM["defaults-nemotron-h"]["params_total"]


def test_run_refuses_a_mamba2_hybrid_by_name(cli):
    r = cli("run", str(CONFIGS / "bamba-9b.json"))
    assert r.code == 2 and "Mamba-2" in r.err and r.out == ""


# --- the wings hold for drawn Mamba-2 hybrids (tests/test_invariants.py's checks) ------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from attncalc.spec.arch import Architecture  # noqa: E402


@st.composite
def mamba2_model(draw) -> Architecture:
    n_layers = draw(st.integers(2, 12))
    mixers = draw(st.lists(st.sampled_from("A2H-"), min_size=n_layers, max_size=n_layers).filter(
        lambda m: any(c in "AH" for c in m)))
    moe = draw(st.booleans())
    # a block without a mixer has a feed-forward; one with a mixer may have none (Nemotron-H)
    ffn = "".join(draw(st.sampled_from(("DE" if moe else "D") + ("" if c == "-" else "-"))) for c in mixers)
    heads, groups = draw(st.integers(1, 6)), draw(st.integers(1, 3))
    kv = draw(st.integers(1, 3))
    kw = dict(vocab_size=draw(st.integers(1, 300)), d_model=8 * kv, n_layers=n_layers, n_heads=kv, n_ctx=64,
              d_ff=draw(st.integers(1, 64)), mlp=draw(st.sampled_from(["standard", "gated"])), norm="rmsnorm",
              unembedding=draw(st.sampled_from(["untied", "tied"])), mixer_pattern="".join(mixers), ffn_pattern=ffn,
              mamba2_heads=heads * groups, mamba2_groups=groups, mamba2_head_dim=draw(st.integers(1, 8)),
              mamba_d_state=draw(st.integers(1, 16)), mamba_d_conv=draw(st.integers(1, 5)),
              mamba_chunk=draw(st.integers(1, 20)), mamba2_norm=draw(st.booleans()),
              mamba_proj_bias=draw(st.booleans()), mamba_out_bias=draw(st.booleans()))
    kw["d_ssm"] = kw["mamba2_heads"] * kw["mamba2_head_dim"]
    if moe:
        e = draw(st.integers(2, 5))
        kw.update(n_experts=e, top_k=draw(st.integers(1, e)), d_ff_expert=draw(st.integers(1, 16)))
    return Architecture(**kw)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.nested_given])
@given(mamba2_model(), st.integers(1, 14), st.integers(1, 3), st.integers(1, 40))
def test_drawn_mamba2_hybrids(a, pp, tp, seq):
    from .test_invariants import test_drawn_models_deal_their_layers_and_parameters as deal

    deal.hypothesis.inner_test(a, pp, tp)
    # training is forward + 2 x forward; the padded scan is the same at seq and at seq padded up
    t = forward(a, 1, seq, FULL_MATMUL)
    assert training(a, seq, seq, FULL_MATMUL)["total"] == 3 * t.total
    padded = -(-seq // a.mamba_chunk) * a.mamba_chunk
    assert _sum(t, SSD, ".mamba2") == _sum(forward(a, 1, padded, FULL_MATMUL), SSD, ".mamba2")
    # every Mamba-2 layer keeps its state, every attention layer its keys and values
    kinds = cache_kinds(a)
    assert sum(k.count for k in kinds if k.per_sequence) == sum(c in "2H" for c in a.mixer_pattern)
    assert sum(k.count for k in kinds if k.per_token) == sum(c in "AH" for c in a.mixer_pattern)


# --- presets ---------------------------------------------------------------------------------------


def test_bamba_preset_is_the_golden_model():
    a, b = load_model("bamba-9b"), load("bamba-9b")
    assert param_summary(a) == param_summary(b)
    for seq in (37, 300):
        assert forward(a, 2, seq, Convention()).total == forward(b, 2, seq, Convention()).total
    assert cache_kinds(a) == cache_kinds(b)


@pytest.mark.parametrize("preset,mamba,attention,mlp", [("nemotron-h-8b", 24, 4, 24),
                                                         ("nemotron-nano-9b-v2", 27, 4, 25)])
def test_nemotron_presets_have_their_published_block_counts(preset, mamba, attention, mlp):
    """NVIDIA's block tallies (Nemotron-H: 24 Mamba-2, 4 attention, 24 MLP; Nano 9B v2: 27, 4, 25, its
    model card), read off the description's kinds."""
    kinds = {k.name: k.count for k in count_params(load_model(preset)).get("blocks").children}
    assert kinds == {"mamba2": mamba, "attention": attention, "dense": mlp}
