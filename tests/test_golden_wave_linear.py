"""The linear-attention and short-convolution hybrids of the 2026 wave (issue 20) against PyTorch +
transformers 5.24 on the meta device (tests/golden/make_golden_wave.py wrote golden_wave.json;
tests/golden/WAVE_NOTES.md 1.6-1.8, 2.3, 2.19, 2.27 is the spec; nothing here computes an expected
number by attncalc's formulas):

- qwen3_next (Qwen3-Next-80B-A3B and the config class's defaults): gated DeltaNet layers, gated
  full attention, MoE with a gated shared expert;
- kimi_linear (Kimi-Linear-48B-A3B and defaults): Kimi Delta Attention layers, NoPE latent
  attention, MoE; the published 1-based linear_attn_config layer lists against the default rule;
- lfm2 (LFM2-1.2B and defaults): gated short-convolution blocks and attention; the MLP width rule.

Checked: total and active parameters, every layer kind's count, total, mixer / MLP / norm split and
its mixer's parameter shapes; FlopCounterMode's forward at every recorded shape, split by op (mm,
bmm, convolution); forward + backward; a decode step; the cache each layer kind keeps (per token
and per sequence). FLOPs are compared under Convention(attention="full", ops="matmul"): what
FlopCounterMode counts of eager attention and of the torch paths' matmuls.

Where FlopCounterMode counts what transformers' torch path runs beyond the model's arithmetic, the
difference is a named term computed from the golden's own shapes:
- the depthwise conv's backward (WAVE_NOTES 1.8): torch's conv_backward_flop counts the weight
  gradient as a dense convolution, 2 C (C − 1) B d_conv L_out more than it is;
- the chunked delta rule's backward: no gradient flows into the zero initial state (the first
  chunk's two state reads, k_cumdecay·S0 and (Q exp g)·S0, skip their state gradient) and the last
  chunk's state update is on no path to the loss (both its gradients skipped): 4 products of
  2 C d_k d_v fewer per sequence and head than 2 x forward; the gated DeltaNet's UT transform is a
  ``solve_triangular`` (uncounted forward) whose backward forms its matrix gradient as a matmul,
  2 C² (d_k + d_v) per chunk and head more. attncalc counts the backward as 2 x the forward;
- a decode step: Kimi's latent attention re-expands every cached latent each step (WAVE_NOTES 1.4).
  (The conv's decode update convolves d_conv kept positions and the new token, two outputs of which
  one is kept: attncalc counts both, as the torch path runs them, like the prefill's padded outputs.)"""

from __future__ import annotations

import json
from collections import Counter
from math import prod

import pytest

from attncalc import load_model, param_summary
from attncalc.core.evaluate import count_params, decode, forward, training
from attncalc.core.memory.cache import cache_kinds, kv_cache
from attncalc.core.workload import Convention
from attncalc.spec.arch import Architecture

from .conftest import GOLDEN

WAVE = json.loads((GOLDEN / "golden_wave.json").read_text())["models"]
CONFIGS = GOLDEN / "hf_configs_wave"
FULL_MATMUL = Convention(attention="full", ops="matmul")
TYPES = ("qwen3_next", "kimi_linear", "lfm2")
NAMES = sorted(n for n, m in WAVE.items() if m["model_type"] in TYPES)
CHUNK = 64  # the torch paths' chunk_size (WAVE_NOTES 1.6)
# each golden mixer module and the part attncalc describes it with
MIXER = {"linear_attn": "deltanet", "self_attn": "attention", "conv": "short_conv"}
MLP_OF = ("mlp", "feed_forward")
# the chunked form's products FlopCounterMode counts (bmm), by part name
CORE = {"intra_kk", "intra_qk", "ut_values", "ut_keys", "state_read_k", "state_read_q", "intra_values", "state_write"}


def load(name):
    return load_model(str(CONFIGS / f"{name}.json"))


def test_every_type_has_its_goldens():
    assert Counter(WAVE[n]["model_type"] for n in NAMES) == {t: 2 for t in TYPES}


@pytest.mark.parametrize("name", NAMES)
def test_totals_and_active(name):
    g, s = WAVE[name], param_summary(load(name))
    assert s["total"] == g["params_total"]
    assert s["conventions"]["active"] == (g["params_active"] if g["params_active"] is not None else g["params_total"])


def _mixer_child(kind, golden_children):
    """(golden module, our node) of a layer's mixer."""
    for module, part in MIXER.items():
        if module in golden_children:
            if module == "self_attn" and kind.get("kda") is not None:
                part = "kda"
            return module, kind.child(part)
    raise AssertionError(golden_children)


@pytest.mark.parametrize("name", NAMES)
def test_layer_kinds_counts_totals_and_splits(name):
    """Each kind of layer transformers builds (its count and one layer's total) is one of ours, with
    the same mixer, MLP and norms."""
    g = WAVE[name]
    tree = count_params(load(name))
    ours = tree.get("blocks").children
    assert Counter((k.count, k.each) for k in ours) == Counter((k["count"], k["total"]) for k in g["layer_kinds"])
    for gk in g["layer_kinds"]:
        kind = next(k for k in ours if (k.count, k.each) == (gk["count"], gk["total"]))
        ch = gk["children"]
        module, mixer = _mixer_child(kind, ch)
        assert mixer.each == ch[module], (name, module)
        mlp = next(m for m in MLP_OF if m in ch)
        assert kind.child("mlp").each == ch[mlp]
        assert kind.child("norms").total == gk["total"] - ch[module] - ch[mlp]


# golden parameter (below the mixer module) -> our leaf in the mixer part
SHAPES = {
    "deltanet": {"in_proj_qkvz.weight": "in_proj_qkvz", "in_proj_ba.weight": "in_proj_ba", "conv1d.weight": "conv",
                 "dt_bias": "dt_bias", "A_log": "A_log", "norm.weight": "norm", "out_proj.weight": "out_proj"},
    "kda": {"q_proj.weight": "q_proj", "k_proj.weight": "k_proj", "v_proj.weight": "v_proj", "conv1d.weight": "conv",
            "forget_gate.f_a_proj.weight": "f_a_proj", "forget_gate.f_b_proj.weight": "f_b_proj",
            "forget_gate.dt_bias": "dt_bias", "forget_gate.A_log": "A_log", "b_proj.weight": "b_proj",
            "g_a_proj.weight": "g_a_proj", "g_b_proj.weight": "g_b_proj", "o_norm.weight": "o_norm",
            "o_proj.weight": "o_proj"},
    "short_conv": {"in_proj.weight": "in_proj", "conv.weight": "conv", "out_proj.weight": "out_proj"},
}


@pytest.mark.parametrize("name", [n for n in NAMES if n not in ("defaults-lfm2",)])
def test_every_mixer_parameter_shape(name):
    """Every parameter of the linear and short-conv mixers, by its transformers name: a matrix has
    its shape (a depthwise conv [C, 1, k] is C x k), a vector its length."""
    g = WAVE[name]
    tree = count_params(load(name))
    for gk in g["layer_kinds"]:
        kind = next(k for k in tree.get("blocks").children if (k.count, k.each) == (gk["count"], gk["total"]))
        module, mixer = _mixer_child(kind, gk["children"])
        if mixer.name == "attention":
            continue
        prefix = f"{module}."
        theirs = {p[len(prefix):]: s for p, s in gk["param_shapes"].items() if p.startswith(prefix)}
        assert set(theirs) == set(SHAPES[mixer.name])
        for param, leaf in SHAPES[mixer.name].items():
            node = mixer.child(leaf)
            shape = [d for d in theirs[param] if d != 1] if len(theirs[param]) > 2 else theirs[param]
            assert node.value == prod(theirs[param]), (param, leaf)
            if len(shape) == 2:
                assert list(node.shape) == shape, (param, leaf)


def test_qwen3_next_gated_attention_query_holds_the_gate():
    """q_proj is 2 n_heads d_head wide: each head's query and its output gate."""
    g = WAVE["qwen3-next-80b-a3b"]
    full = next(k for k in g["layer_kinds"] if "self_attn" in k["children"])
    a = load("qwen3-next-80b-a3b")
    tree = count_params(a)
    att = next(k for k in tree.get("blocks").children if k.get("attention") is not None).child("attention")
    head = next(n for _, n, _ in att.walk() if n.name == "head")
    assert head.child("query").value + head.child("output_gate").value == prod(full["param_shapes"]["self_attn.q_proj.weight"]) // a.n_heads


def test_kimi_published_layer_lists_are_one_based():
    """linear_attn_config.full_attn_layers 4, 8, ..., 24, 27 (1-based) are the golden's 0-based 3, 7,
    ..., 23, 26; the defaults' rule (i and i % 4 == 0) puts them at 4, 8, ..., 24."""
    for name in ("kimi-linear-48b-a3b", "defaults-kimi-linear"):
        types = WAVE[name]["per_layer_config_lists"]["layer_types"]
        a = load(name)
        assert a.mixer_pattern == "".join("A" if t == "full_attention" else "K" for t in types)
        mlp = WAVE[name]["per_layer_config_lists"]["mlp_layer_types"]
        assert a.first_dense_layers == mlp.count("dense") and mlp[: mlp.count("dense")] == ["dense"] * mlp.count("dense")


def test_lfm2_mlp_width_and_final_norm():
    """Lfm2MLP: int(2 x 12288 / 3) = 8192 wide (w1, w3: I' x D); the checkpoint's embedding_norm is
    the model's only non-layer norm (applied after the last layer)."""
    for name in ("lfm2-1.2b", "defaults-lfm2"):
        g = WAVE[name]
        shapes = g["layer_kinds"][0]["param_shapes"]
        a = load(name)
        assert shapes["feed_forward.w1.weight"] == [a.ff_dim, a.d_model]
        tree = count_params(a)
        assert tree.total_at("final_norm") == prod(g["non_layer_params"]["model.embedding_norm.weight"])


# --- FLOPs ------------------------------------------------------------------------------------------


def _by_op(tree, a):
    """Our forward split as FlopCounterMode splits it: convolution (the convs and their padded
    outputs), bmm (attention cores, the chunked delta rule's products, the routed experts under
    batched_mm), mm (every other matrix)."""
    conv = bmm = 0
    for path, node, times in tree.walk():
        if node.children:
            continue
        if node.name in ("conv", "conv_padding"):
            conv += node.each * times
        elif node.name in CORE or node.name in ("scores", "weighted_values") or ".expert." in path + ".":
            bmm += node.each * times
    return {"aten.convolution": conv, "aten.bmm": bmm, "aten.mm": tree.total - conv - bmm}


@pytest.mark.parametrize("name,shape", [(n, s) for n in NAMES for s in WAVE[n]["flops"]])
def test_forward_by_op(name, shape):
    f = WAVE[name]["flops"][shape]
    a = load(name)
    t = forward(a, f["batch"], f["seq"], FULL_MATMUL)
    assert t.total == f["forward"]
    ours = _by_op(t, a)
    assert {k: v for k, v in ours.items() if v} == f["forward_by_op"]
    if "moe_check" in f:
        routed = sum(n.each * times for _, n, times in t.walk() if n.name == "expert")
        assert routed == f["moe_check"]["expected_if_top_k_per_token"]
        assert f["moe_check"]["experts_computed_per_token"] == a.top_k


def _conv_overcount(name, batch, seq):
    """WAVE_NOTES 1.8: 2 C (C - 1) B d_conv L_out per depthwise conv layer, L_out = seq + d_conv - 1,
    C and d_conv from the golden's conv_states."""
    out = 0
    for kind in WAVE[name]["cache"]["kinds"]:
        if "conv_states[0]" in kind["tensors_after_prefill_4"]:
            _, c, k = kind["tensors_after_prefill_4"]["conv_states[0]"]
            out += kind["count"] * 2 * c * (c - 1) * batch * k * (seq + k - 1)
    return out


def _delta_rule_backward(name, batch, seq):
    """How much less than 2 x forward FlopCounterMode's backward of the chunked delta rule counts
    (see the module's docstring), from the golden's recurrent_states [B, H, d_k, d_v]."""
    out = 0
    for kind in WAVE[name]["cache"]["kinds"]:
        if "recurrent_states[0]" in kind["tensors_after_prefill_4"]:
            _, h, dk, dv = kind["tensors_after_prefill_4"]["recurrent_states[0]"]
            skipped = batch * h * 4 * (2 * CHUNK * dk * dv)
            solve = batch * -(-seq // CHUNK) * h * 2 * CHUNK * CHUNK * (dk + dv) if WAVE[name]["model_type"] == "qwen3_next" else 0
            out += kind["count"] * (skipped - solve)
    return out


@pytest.mark.parametrize("name,shape", [(n, s) for n in NAMES for s in WAVE[n]["flops"]])
def test_forward_backward(name, shape):
    f = WAVE[name]["flops"][shape]
    b, s = f["batch"], f["seq"]
    ours = training(load(name), b * s, s, FULL_MATMUL)
    assert ours["backward"] == 2 * ours["forward"]
    assert f["forward_backward"] - _conv_overcount(name, b, s) + _delta_rule_backward(name, b, s) == ours["total"]
    # the matmuls' backward is exactly 2 x their forward in the golden too
    assert f["forward_backward_by_op"]["aten.mm"] == 3 * f["forward_by_op"]["aten.mm"]


@pytest.mark.parametrize("name", NAMES)
def test_decode_step(name):
    dc = WAVE[name]["cache"]["decode_step"]
    g = WAVE[name]
    extra = 0
    for gk in g["layer_kinds"]:  # latent attention re-expands every cached latent (WAVE_NOTES 1.4)
        if "self_attn.kv_b_proj.weight" in gk["param_shapes"]:
            extra += gk["count"] * 2 * dc["cached_tokens"] * prod(gk["param_shapes"]["self_attn.kv_b_proj.weight"])
    t = decode(load(name), 1, dc["cached_tokens"], FULL_MATMUL)
    assert t.total + extra == dc["forward"]
    conv = sum(n.each * x for _, n, x in t.walk() if n.name in ("conv", "conv_update"))
    assert conv == dc["forward_by_op"].get("aten.convolution", 0)


def test_the_chunked_form_runs_over_padded_chunks():
    """b2_s37: two sequences of 37 tokens run the same chunk products as one of 128 (two chunks of 64
    each way): the golden's bmm minus attention and experts agrees, and so does ours."""
    name = "qwen3-next-80b-a3b"
    a = load(name)
    core = {}
    for shape in ("b1_s128", "b2_s37"):
        f = WAVE[name]["flops"][shape]
        t = forward(a, f["batch"], f["seq"], FULL_MATMUL)
        core[shape] = sum(n.each * times for _, n, times in t.walk() if n.name in CORE)
    assert core["b1_s128"] == core["b2_s37"] > 0


# --- the cache and the state ------------------------------------------------------------------------


def _golden_per_token(name):
    total = 0
    for kind in WAVE[name]["cache"]["kinds"]:
        for t in kind["per_token_tensors"]:
            total += kind["count"] * (prod(kind["tensors_after_prefill_7"][t]) - prod(kind["tensors_after_prefill_4"][t])) // 3
    return total


@pytest.mark.parametrize("name", NAMES)
def test_cache_per_token_and_state_per_sequence(name):
    kinds = cache_kinds(load(name))
    assert sum(k.count * k.per_token for k in kinds) == _golden_per_token(name)
    theirs = Counter()
    for kind in WAVE[name]["cache"]["kinds"]:
        fixed = [t for t in kind["tensors_after_prefill_4"] if t not in kind["per_token_tensors"]]
        assert all(kind["tensors_after_prefill_4"][t] == kind["tensors_after_prefill_7"][t] for t in fixed)
        theirs[sum(prod(kind["tensors_after_prefill_4"][t]) for t in fixed)] += kind["count"]
    ours = Counter()
    for k in kinds:
        ours[k.per_sequence] += k.count
    assert ours == theirs
    # the bytes a batch keeps: the state per sequence whatever the context
    a = load(name)
    short, long = (kv_cache(a, dtype="bf16", batch=3, context=c) for c in (10, 10_000))
    assert short.state_per_sequence == long.state_per_sequence == 2 * sum(k.count * k.per_sequence for k in kinds)


# --- presets, readers, explain ----------------------------------------------------------------------


@pytest.mark.parametrize("preset,config", [("qwen3-next-80b-a3b", "qwen3-next-80b-a3b"),
                                           ("kimi-linear-48b-a3b", "kimi-linear-48b-a3b"), ("lfm2-1.2b", "lfm2-1.2b")])
def test_presets_are_the_golden_models(preset, config):
    a, b = load_model(preset), load(config)
    assert param_summary(a) == param_summary(b)
    for conv in (Convention(), Convention(ops="all")):
        assert forward(a, 2, 300, conv).total == forward(b, 2, 300, conv).total
        assert decode(a, 2, 300, conv).total == decode(b, 2, 300, conv).total


def test_lfm2_2_6b_preset():
    """LiquidAI's LFM2-2.6B (no golden): 30 layers, 8 of them attention, an un-adjusted 10752 MLP;
    2,569,272,320 parameters by the same description the 1.2B golden checks."""
    a = load_model("lfm2-2.6b")
    assert a.mixer_pattern.count("A") == 8 and len(a.mixer_pattern) == 30 and a.ff_dim == 10752
    assert param_summary(a)["total"] == 2_569_272_320


def test_defaults_taken_are_recorded():
    """A file that leaves keys out gets transformers 5.24's defaults, and says so (`show`)."""
    said = {(k, v) for kind, _, k, v in load("defaults-qwen3-next")._read if kind == "default"}
    assert ("linear_num_key_heads", "16") in said and ("linear_num_value_heads", "32") in said
    assert ("head_dim", "256") in said and ("full_attention_interval", "4") in said
    said = {k for kind, _, k, _ in load("defaults-kimi-linear")._read if kind == "default"}
    assert {"linear_num_heads", "linear_head_dim", "linear_conv_kernel_dim", "first_k_dense_replace"} <= said
    said = {k for kind, _, k, _ in load("defaults-lfm2")._read if kind == "default"}
    assert {"intermediate_size", "block_multiple_of", "block_ffn_dim_multiplier"} <= said
    assert not {k for kind, _, k, _ in load("lfm2-1.2b")._read if kind == "close"}


@pytest.mark.parametrize("config,key", [
    ('{"model_type": "kimi_linear", "linear_attn_config": {"full_attn_layers": [0, 4], "kda_layers": [1]}}',
     "linear_attn_config.full_attn_layers"),
    ('{"model_type": "kimi_linear", "num_hidden_layers": 4, "linear_attn_config": {"full_attn_layers": [4], '
     '"kda_layers": [1, 2]}}', "linear_attn_config.kda_layers"),
    ('{"model_type": "kimi_linear", "num_key_value_heads": 8}', "num_key_value_heads"),
    ('{"model_type": "kimi_linear", "moe_layer_freq": 2}', "moe_layer_freq"),
    ('{"model_type": "lfm2", "num_hidden_layers": 2, "layer_types": ["conv", "mamba"]}', "layer_types"),
    ('{"model_type": "lfm2", "num_hidden_layers": 2, "full_attn_idxs": [5]}', "full_attn_idxs"),
    ('{"model_type": "lfm2", "num_hidden_layers": 2, "layer_types": ["conv", "conv"]}', "layer_types"),
    ('{"model_type": "lfm2", "num_hidden_layers": 2, "full_attn_idxs": []}', "full_attn_idxs"),
    ('{"model_type": "kimi_linear", "num_hidden_layers": 2, "linear_attn_config": {"full_attn_layers": [], '
     '"kda_layers": [1, 2]}}', "linear_attn_config.full_attn_layers"),
    ('{"model_type": "qwen3_next", "num_hidden_layers": 2, "layer_types": ["linear_attention", '
     '"linear_attention"]}', "layer_types"),
    ('{"model_type": "qwen3_next", "num_hidden_layers": 2, "layer_types": ["linear_attention"]}', "layer_types"),
    ('{"model_type": "qwen3_next", "linear_num_value_heads": 20}', "linear_value_heads"),
    ('{"model_type": "qwen3_next", "num_experts": 1}', "num_experts"),
    ('{"model_type": "kimi_linear", "num_experts": 1}', "num_experts"),
    ('{"model_type": "kimi_linear", "linear_attn_config": [4]}', "linear_attn_config"),
])
def test_hostile_configs_are_refused_by_name(cli, tmp_path, config, key):
    f = tmp_path / "config.json"
    f.write_text(config)
    r = cli("count", str(f))
    assert r.code == 2 and r.out == "" and f": {key}: " in r.err and len(r.err.strip().splitlines()) == 1, r.err


@pytest.mark.parametrize("fields,name", [
    (dict(mixer_pattern="GG", linear_heads=1), "mixer_pattern"),
    (dict(mixer_pattern="GA"), "linear_heads"),
    (dict(mixer_pattern="CA", linear_heads=2), "linear_heads"),
    (dict(mixer_pattern="GA", linear_heads=2, linear_value_heads=3), "linear_value_heads"),
    (dict(mixer_pattern="KA", linear_heads=2, linear_value_heads=4), "linear_value_heads"),
    (dict(mixer_pattern="AA", short_conv_bias=True), "short_conv_bias"),
    (dict(mixer_pattern="CA", linear_conv=0), "linear_conv"),
    (dict(mixer_pattern="GA", linear_heads=1, linear_chunk=0), "linear_chunk"),
    (dict(mixer_pattern="AX"), "mixer_pattern"),
])
def test_linear_fields_are_validated(fields, name):
    from attncalc.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        Architecture(vocab_size=10, d_model=8, n_layers=2, n_heads=2, **fields)
    assert err.value.field == name


@pytest.mark.parametrize("model,words", [
    ("qwen3-next-80b-a3b", ("gated DeltaNet (linear attention, hybrid)", "numbers per layer and sequence (no KV cache)",
                            "chunks per sequence", "output gate W_G")),
    ("kimi-linear-48b-a3b", ("Kimi Delta Attention (linear attention, hybrid)", "per-channel decay")),
    ("lfm2-1.2b", ("short convolution (LFM2 conv blocks)", "conv window d_model × d_conv")),
])
def test_explain_writes_out_the_new_mixers(cli, model, words):
    r = cli("explain", model, "--seq", "8192", "--plain")
    assert r.code == 0, r.err
    for w in words:
        assert w in r.out, w
    for line in r.out.splitlines():  # every step's result is what its factors say, where they are numbers
        if " = " not in line or "%" in line:
            continue
        *_, factors, result = line.rsplit(" = ", 2)
        expr = factors.replace(",", "").replace("×", "*").replace("−", "-")
        if all(c in "0123456789 +-*/()" for c in expr) and expr.strip():
            assert eval(expr) == int(result.replace(",", "")), line  # noqa: S307 (digits and operators only)


def test_count_names_the_state_mixers(cli):
    r = cli("count", "kimi-linear-48b-a3b", "--format", "json")
    doc = json.loads(r.out)
    kinds = {k["name"]: k for k in doc["params"]["kinds"]}
    assert {k["mixer"] for k in kinds.values()} == {"kda", "attention"}
    r = cli("count", "qwen3-next-80b-a3b")
    assert r.code == 0 and "gated DeltaNet state per sequence" in r.out


# --- what a checkpoint holds ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["qwen3-next-80b-a3b", "kimi-linear-48b-a3b", "lfm2-1.2b"])
def test_a_checkpoint_of_the_golden_shapes_reconciles(cli, tmp_path, name):
    """`count FOLDER` on safetensors whose header holds every tensor transformers built, by its name
    and shape (golden_wave.json; data a sparse hole): every tensor maps to the description (Qwen3-Next's
    q_proj holds query and output gate; Kimi's KDA and latent layers are both self_attn; LFM2's
    embedding_norm is the final norm), nothing is missing, and the routing correction biases (a
    buffer) are unexpected with that reason."""
    from .test_checkpoint import write_safetensors

    g = WAVE[name]
    tensors = {}
    for kind in g["layer_kinds"]:
        for span in kind["indices"]:
            for i in range(span[0], span[-1] + 1):
                tensors |= {f"model.layers.{i}.{k}": ("BF16", s) for k, s in kind["param_shapes"].items()}
    tensors |= {k: ("BF16", s) for k, s in g["non_layer_params"].items()}
    buffers = 0
    for pattern, b in g["non_parameter_state"].items():  # model.layers.*.mlp.gate.e_score_correction_bias
        moe_layers = [i for kind in g["layer_kinds"] if "mlp.gate.weight" in kind["param_shapes"]
                      for span in kind["indices"] for i in range(span[0], span[-1] + 1)]
        assert len(moe_layers) == b["count"]
        tensors |= {pattern.replace("*", str(i)): ("F32", b["shape"]) for i in moe_layers}
        buffers += b["count"]
    folder = tmp_path / name
    folder.mkdir()
    (folder / "config.json").write_text((CONFIGS / f"{name}.json").read_text())
    write_safetensors(folder / "model.safetensors", tensors)
    ck = json.loads(cli("count", str(folder), "--format", "json").out)["checkpoint"]
    assert ck["missing"] == [] and ck["mismatched"] == [] and ck["unmapped"] == []
    assert ck["matched_params"] == g["params_total"] == ck["count_params"]
    if buffers:
        (why,) = ck["unexpected_by_reason"]
        assert "buffer" in why and ck["unexpected_by_reason"][why]["tensors"] == buffers
    else:
        assert ck["unexpected"] == []


# --- drawn hybrids hold the invariants (tests/test_invariants.py's checks) --------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@st.composite
def linear_model(draw) -> Architecture:
    n_layers = draw(st.integers(2, 10))
    letters = draw(st.lists(st.sampled_from("AGKC"), min_size=n_layers, max_size=n_layers))
    if "G" in letters and "K" in letters:
        letters = ["G" if c == "K" else c for c in letters]
    if "A" not in letters:  # a model of only state mixers is refused (test_hostile_configs_are_refused_by_name)
        letters[draw(st.integers(0, n_layers - 1))] = "A"
    heads = draw(st.integers(1, 4))
    kw: dict = dict(vocab_size=draw(st.integers(1, 300)), n_layers=n_layers, d_model=8 * heads, n_heads=heads,
                    d_ff=draw(st.integers(1, 64)), mlp="gated", mixer_pattern="".join(letters), n_ctx=256,
                    linear_conv=draw(st.integers(1, 5)), linear_chunk=draw(st.integers(1, 16)),
                    attention_gate=draw(st.booleans()), short_conv_bias="C" in letters and draw(st.booleans()))
    if "G" in letters or "K" in letters:
        k = draw(st.integers(1, 3))
        kw.update(linear_heads=k, linear_key_dim=draw(st.integers(1, 8)))
        if "G" in letters:
            kw.update(linear_value_heads=k * draw(st.integers(1, 3)), linear_value_dim=draw(st.integers(1, 8)))
    return Architecture(**kw)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.nested_given])
@given(linear_model(), st.integers(1, 12), st.integers(1, 3), st.integers(1, 40))
def test_drawn_linear_hybrids(a, pp, tp, seq):
    from .test_invariants import test_drawn_models_deal_their_layers_and_parameters as deal

    deal.hypothesis.inner_test(a, pp, tp)
    # the chunked form runs ceil(seq / chunk) chunks per sequence whatever the tokens in the last
    t = forward(a, 2, seq, FULL_MATMUL)
    padded = forward(a, 2, -(-seq // a.linear_chunk) * a.linear_chunk, FULL_MATMUL)
    core = [sum(n.each * x for _, n, x in tr.walk() if n.name in CORE) for tr in (t, padded)]
    assert core[0] == core[1]
    # a decode step runs no chunk and stores nothing per token in a linear or conv layer
    d = decode(a, 2, seq, FULL_MATMUL)
    assert not any(n.name in CORE for _, n, _ in d.walk())
    kinds = cache_kinds(a)
    assert sum(k.count for k in kinds if k.per_sequence) == sum(c in "GKC" for c in a.mixer_pattern)
    assert all(not k.per_token for k in kinds if k.per_sequence)
