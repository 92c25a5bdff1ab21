"""The issue-20 types with new machinery against PyTorch + transformers 5.24 on the meta device
(tests/golden/make_golden_wave.py wrote golden_wave.json; tests/golden/WAVE_NOTES.md 2.25, 2.26,
2.28 is the spec; nothing here computes an expected number by attncalc's formulas):

- deepseek_v32 (DeepSeek-V3.2-Exp): the lightning indexer's matrices, its key in the cache, totals,
  FlopCounterMode forward and forward+backward (the indexer runs under no_grad: no backward);
- longcat_flash (LongCat-Flash-Chat): zero-computation experts and the shortcut MoE; what
  transformers builds (741B) against what the model and checkpoint hold (560B); its forward could
  not run on meta (the experts call .item()), so the recorded experts-muted forward is the check;
- gemma3n_text (gemma-3n-E4B's text part): per-layer embeddings, AltUp, LAuReL, KV-sharing layers,
  every layer kind, the forward, forward+backward, the cache kinds and a decode step.

FLOPs are compared under Convention(attention="full", ops="matmul"), what FlopCounterMode counts
of eager attention; per-op adjustments are stated where transformers runs more than the model
(DeepSeek-V3.2's decode re-expands the whole cached latent each step)."""

from __future__ import annotations

import json

import pytest

from attncalc import load_model, param_summary
from attncalc.core.evaluate import decode, forward, training
from attncalc.core.memory.cache import cache_kinds, kv_cache
from attncalc.core.workload import Convention, Mask, Pattern

from .conftest import GOLDEN

WAVE = json.loads((GOLDEN / "golden_wave.json").read_text())["models"]
CONFIGS = GOLDEN / "hf_configs_wave"
FULL_MATMUL = Convention(attention="full", ops="matmul")
DSA = ("deepseek-v3.2-exp", "defaults-deepseek-v32")
GEMMA = ("defaults-gemma3n-text", "defaults-gemma3n")
LONGCAT = "defaults-longcat-flash"
EXACT = DSA + GEMMA  # configs whose forward ran under FlopCounterMode


def load(name):
    return load_model(str(CONFIGS / f"{name}.json"))


def kinds_by_total(name):
    return {(k["count"], k["total"]): k for k in WAVE[name]["layer_kinds"] if k["stack"] == "model.layers"}


def numel(shape):
    out = 1
    for d in shape:
        out *= d
    return out


# --- totals and active --------------------------------------------------------------------------


@pytest.mark.parametrize("name", EXACT)
def test_totals_and_active(name):
    g, s = WAVE[name], param_summary(load(name))
    assert s["total"] == g["params_total"]
    assert s["conventions"]["as_built"] == g["params_total"]  # nothing allocated beyond the model
    if g["params_active"] is not None:
        assert s["conventions"]["active"] == g["params_active"]


def test_longcat_reference_allocation_and_checkpoint():
    """transformers allocates gate/up rows for the 256 zero experts too (741B); the model, its
    published 560B and its checkpoint have none: total is that, as_built what transformers builds."""
    g, s = WAVE[LONGCAT], param_summary(load(LONGCAT))
    assert s["conventions"]["as_built"] == g["params_total"]
    assert s["total"] == g["params_total"] - g["moe"]["params_in_unused_zero_expert_rows"]
    assert round(s["total"] / 1e9) == 561  # the technical report's "560B"
    # active: every top-k pick counted as a real expert, the golden's own upper bound (moe.note)
    assert s["conventions"]["active"] == g["params_active"] and "upper bound" in g["moe"]["note"]
    # the unused rows are exactly the zero experts' gate/up rows, per the golden's shapes
    gate_up, down = g["moe"]["experts_param_shapes"]["gate_up_proj"], g["moe"]["experts_param_shapes"]["down_proj"]
    zero = g["moe"]["zero_computation_experts"]
    assert gate_up[0] - down[0] == zero
    assert g["moe"]["params_in_unused_zero_expert_rows"] == g["moe"]["moe_layers"] * zero * numel(gate_up[1:])


# --- layer kinds and shapes -----------------------------------------------------------------------


@pytest.mark.parametrize("name", DSA)
def test_deepseek_v32_kinds_and_indexer(name):
    g, s = WAVE[name], param_summary(load(name))
    gk = kinds_by_total(name)
    assert {(k["count"], k["per_block"]) for k in s["kinds"]} == set(gk)
    for k in s["kinds"]:
        ch = gk[(k["count"], k["per_block"])]["children"]
        assert k["attention_per_block"] == ch["self_attn"]  # MLA + the indexer
        assert k["mlp_per_block"] == ch["mlp"]
        assert k["norms_per_block"] == ch["input_layernorm"] + ch["post_attention_layernorm"]
    sh = g["layer_kinds"][0]["param_shapes"]
    indexer = sum(numel(v) for key, v in sh.items() if ".indexer." in key)
    tree = load(name)
    from attncalc.core.evaluate import count_params

    node = next(n for _, n, _ in count_params(tree).walk() if n.name == "indexer")
    assert node.each == indexer
    leaves = {leaf.name: leaf.shape for leaf in node.children}
    assert list(leaves["query"]) == sh["self_attn.indexer.wq_b.weight"]
    assert list(leaves["key"]) == sh["self_attn.indexer.wk.weight"]
    assert list(leaves["head_weights"]) == sh["self_attn.indexer.weights_proj.weight"]
    assert leaves["key_norm"][0] == numel(sh["self_attn.indexer.k_norm.weight"]) + numel(sh["self_attn.indexer.k_norm.bias"])


def test_longcat_sublayers_add_up_to_transformers_layer():
    """One transformers layer = two attention sublayers, two dense MLPs, four norms and one shortcut
    MoE; attncalc's two sublayer kinds (with and without the MoE) hold exactly that, less the unused
    zero-expert rows."""
    g, s = WAVE[LONGCAT], param_summary(load(LONGCAT))
    (gl,) = g["layer_kinds"]
    ch = gl["children"]
    unused = g["moe"]["params_in_unused_zero_expert_rows"] // g["moe"]["moe_layers"]
    assert len(s["kinds"]) == 2 and {k["count"] for k in s["kinds"]} == {gl["count"]}
    moe, dense = sorted(s["kinds"], key=lambda k: -k["per_block"])
    assert moe["per_block"] + dense["per_block"] + unused == gl["total"]
    assert moe["attention_per_block"] + dense["attention_per_block"] == ch["self_attn"]
    assert moe["mlp_per_block"] + dense["mlp_per_block"] + unused == ch["mlp"] + ch["mlps"]
    assert dense["mlp_per_block"] * 2 == ch["mlps"]
    assert moe["norms_per_block"] + dense["norms_per_block"] == ch["input_layernorm"] + ch["post_attention_layernorm"]
    # the router scores the real and the zero experts alike
    sh = gl["param_shapes"]
    a = load(LONGCAT)
    assert sh["mlp.router.classifier.weight"] == [a.n_experts + a.zero_experts, a.d_model]
    assert g["moe"]["zero_computation_experts"] == a.zero_experts and g["moe"]["top_k"] == a.top_k


@pytest.mark.parametrize("name", GEMMA)
def test_gemma3n_kinds_and_parts(name):
    """Every layer kind transformers builds (sliding/full x own KV/KV-sharing; the activation-
    sparsity labels split them further there but change no parameter), its attention, MLP, AltUp,
    LAuReL, per-layer input and norms; and the model-level parts."""
    g, s = WAVE[name], param_summary(load(name))
    ours = {}
    for k in s["kinds"]:
        ours[k["per_block"]] = ours.get(k["per_block"], 0) + k["count"]
    theirs = {}
    for k in g["layer_kinds"]:
        if k["stack"] == "model.layers":
            theirs[k["total"]] = theirs.get(k["total"], 0) + k["count"]
    assert ours == theirs
    from attncalc.core.evaluate import count_params

    tree = count_params(load(name))
    for kind in tree.get("blocks").children:
        gk = next(k for k in g["layer_kinds"] if k["stack"] == "model.layers" and k["total"] == kind.each)
        ch = gk["children"]
        assert kind.child("attention").each == ch["self_attn"]
        assert kind.child("mlp").each == ch["mlp"]
        assert kind.child("altup").each == ch["altup"]
        assert kind.child("laurel").each == ch["laurel"]
        assert kind.child("per_layer_input").each == (ch["per_layer_input_gate"] + ch["per_layer_projection"]
                                                      + ch["post_per_layer_input_norm"])
        assert kind.child("norms").total == sum(ch[n] for n in ("input_layernorm", "post_attention_layernorm",
                                                                "pre_feedforward_layernorm", "post_feedforward_layernorm"))
        # the layers that reuse an earlier layer's keys and values have no k/v projections
        shared = "shared_kv" in kind.name
        assert ("self_attn.k_proj.weight" in gk["param_shapes"]) is not shared
    non_layer = g["non_layer_params"]
    emb = tree.get("embedding")
    assert list(emb.child("per_layer").shape) == non_layer["model.embed_tokens_per_layer.weight"]
    assert list(emb.child("per_layer_projection").shape) == non_layer["model.per_layer_model_projection.weight"]
    stacks = g["params_by_name"]["stacks"]
    assert emb.child("altup_in").total == stacks["model.altup_projections"]["total"]
    assert tree.get("altup_out").total == stacks["model.altup_unembed_projections"]["total"]


# --- FLOPs ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", EXACT)
def test_flop_counter_forward_and_backward(name):
    """Forward = FlopCounterMode's; forward + backward too: the training count leaves the backward
    out of the parts the loss sends no gradient through (DeepSeek-V3.2's indexer runs under
    torch.no_grad, so FlopCounterMode sees its forward once and no backward)."""
    f = WAVE[name]["flops"]["b1_s128"]
    a = load(name)
    assert forward(a, 1, 128, FULL_MATMUL).total == f["forward"]
    assert training(a, 128, 128, FULL_MATMUL)["total"] == f["forward_backward"]
    if "moe_check" in f:
        assert f["moe_check"]["experts_computed_per_token"] == a.top_k


def test_deepseek_v32_indexer_has_no_backward():
    """Without the no-grad indexer the backward would be 2 x the whole forward; the golden's own
    per-op split shows it is not: the difference is 2 x the indexer's forward."""
    a = load("deepseek-v3.2-exp")
    t = forward(a, 1, 128, FULL_MATMUL)
    indexer = sum(n.each * times for _, n, times in t.walk() if n.name == "indexer")
    f = WAVE["deepseek-v3.2-exp"]["flops"]["b1_s128"]
    assert indexer > 0 and 3 * f["forward"] - f["forward_backward"] == 2 * indexer


def test_longcat_forward_with_experts_muted():
    """The recorded check: everything but the routed experts (FlopCounterMode with the experts
    module returning zeros), and the routed experts at top_k per token."""
    check = WAVE[LONGCAT]["flops"]["b1_s128"]["moe_check"]
    t = forward(load(LONGCAT), 1, 128, FULL_MATMUL)
    routed = sum(n.each * times for _, n, times in t.walk() if n.name == "expert")
    assert t.total - routed == check["forward_experts_muted"]
    assert routed == check["expected_if_top_k_per_token"]
    assert t.total == check["forward_top_k_equivalent"]


def test_gemma3n_decode_step():
    dc = WAVE["defaults-gemma3n-text"]["cache"]["decode_step"]
    assert decode(load("defaults-gemma3n-text"), 1, dc["cached_tokens"], FULL_MATMUL).total == dc["forward"]


def test_deepseek_v32_decode_step_with_the_latent_re_expansion():
    """transformers 5.24 caches MLA's latent and re-applies kv_b_proj to every cached token each
    step (WAVE_NOTES 1.4): per layer 2 x cached x kv_lora_rank x n_heads x (d_nope + v_head_dim)
    more than the new token's own up-projection, all in aten.mm. That term, read off the golden's
    kv_b_proj shape, is the only difference."""
    name = "deepseek-v3.2-exp"
    dc = WAVE[name]["cache"]["decode_step"]
    kv_b = WAVE[name]["layer_kinds"][0]["param_shapes"]["self_attn.kv_b_proj.weight"]
    layers = WAVE[name]["cache"]["layers"]
    re_expansion = layers * 2 * dc["cached_tokens"] * numel(kv_b)
    assert decode(load(name), 1, dc["cached_tokens"], FULL_MATMUL).total + re_expansion == dc["forward"]


# --- the cache each layer keeps -------------------------------------------------------------------


def _golden_per_token(name):
    """Numbers per new token, summed over cache kinds, from the tensors after a 4- and a 7-token
    prefill."""
    total = 0
    for kind in WAVE[name]["cache"]["kinds"]:
        grow = 0
        for t in kind["per_token_tensors"]:
            grow += numel(kind["tensors_after_prefill_7"][t]) - numel(kind["tensors_after_prefill_4"][t])
        total += kind["count"] * grow // 3
    return total


@pytest.mark.parametrize("name", EXACT)
def test_cache_per_token(name):
    kinds = cache_kinds(load(name))
    assert sum(k.count * k.per_token for k in kinds) == _golden_per_token(name)
    assert all(k.per_sequence == 0 for k in kinds)


def test_deepseek_v32_caches_the_indexer_key():
    kind = WAVE["deepseek-v3.2-exp"]["cache"]["kinds"][0]
    assert kind["cache_layer_class"] == "DynamicIndexedLayer"
    a = load("deepseek-v3.2-exp")
    assert kind["tensors_after_prefill_4"]["indexer_keys"][-1] == a.index_head_dim
    (k,) = cache_kinds(a)[:1]
    assert k.per_token == sum(kind["tensors_after_prefill_4"][t][-1] for t in kind["per_token_tensors"])


def test_gemma3n_kv_sharing_layers_cache_nothing():
    g = WAVE["defaults-gemma3n-text"]["cache"]["kinds"]
    dummy = sum(k["count"] for k in g if k["cache_layer_class"] == "DummyLayer")
    sliding = {k["count"] for k in g if k["cache_layer_class"] == "DynamicSlidingWindowLayer"}
    kinds = cache_kinds(load("defaults-gemma3n-text"))
    assert sum(k.count for k in kinds if not k.per_token) == dummy
    assert {k.count for k in kinds if k.per_token and k.window} == sliding
    # a sliding layer keeps at most its window; the sharing layers add nothing at any context
    a = load("defaults-gemma3n-text")
    own = [k for k in kinds if k.per_token]
    long = kv_cache(a, dtype="bf16", batch=1, context=10_000).total
    assert long == 2 * sum(k.count * k.per_token * min(10_000, k.window or 10_000) for k in own)


# --- the sparse-attention convention --------------------------------------------------------------


@pytest.mark.parametrize("seq", [1, 5, 2048, 2049, 5000])
def test_top_k_pairs_are_each_query_s_min_of_k_and_its_keys(seq):
    """DeepSeek-V3.2-Exp report sec. 2.1: each query attends to its top-k keys, so min(k, i + 1) of
    a causal mask's i + 1; summed by brute force here, in closed form by the convention."""
    k = 2048
    conv = Convention()
    expected = sum(min(k, i + 1) for i in range(seq))
    assert conv.selected(Mask(True), Pattern(topk=k), seq, False) == expected
    assert Convention(sparse="dense").selected(Mask(True), Pattern(topk=k), seq, False) == seq * (seq + 1) // 2
    assert conv.selected(Mask(True), Pattern(topk=k), seq, True) == min(k, seq + 1)


def test_sparse_attention_changes_only_the_main_attention_core():
    a = load_model("deepseek-v3.2-exp")
    seq = 8192
    topk, dense = (forward(a, 1, seq, Convention(sparse=m)) for m in ("topk", "dense"))
    cores = {}
    for m, t in (("topk", topk), ("dense", dense)):
        cores[m] = sum(n.each * times for p, n, times in t.walk()
                       if not n.children and n.name in ("scores", "weighted_values") and ".indexer" not in p)
    assert dense.total - topk.total == cores["dense"] - cores["topk"] > 0
    per_pair = sum(n.each for n in next(nd for _, nd, _ in topk.walk() if nd.name == "head").children
                   if n.name in ("scores", "weighted_values")) // Convention().selected(
                       Mask(True), Pattern(topk=2048), seq, False)
    saved = seq * (seq + 1) // 2 - sum(min(2048, i + 1) for i in range(seq))
    assert cores["dense"] - cores["topk"] == a.n_layers * a.n_heads * per_pair * saved
    # under --attention full (FlopCounterMode's view) the sparsity is not applied: S x S everywhere
    assert forward(a, 1, seq, Convention(attention="full")).total == forward(
        a, 1, seq, Convention(attention="full", sparse="dense")).total


# --- presets, readers, explain ----------------------------------------------------------------------


@pytest.mark.parametrize("preset,config", [("deepseek-v3.2-exp", "deepseek-v3.2-exp"),
                                           ("longcat-flash-chat", LONGCAT), ("gemma-3n-e4b", "defaults-gemma3n-text")])
def test_presets_are_the_golden_models(preset, config):
    a, b = load_model(preset), load(config)
    assert param_summary(a) == param_summary(b)
    assert forward(a, 1, 300, Convention()).total == forward(b, 1, 300, Convention()).total


@pytest.mark.parametrize("config,key", [
    ('{"model_type": "longcat_flash", "num_layers": 28, "num_hidden_layers": 28}', "num_hidden_layers"),
    ('{"model_type": "gemma3n_text", "num_hidden_layers": 3, "intermediate_size": [8, 16, 8]}', "intermediate_size"),
    ('{"model_type": "gemma3n_text", "num_hidden_layers": 2, "intermediate_size": [8]}', "intermediate_size"),
    ('{"model_type": "gemma3n_text", "num_hidden_layers": 15, "num_kv_shared_layers": 15}', "kv_shared_layers"),
    ('{"model_type": "gemma3n_text", "num_hidden_layers": 6, "num_kv_shared_layers": 3}', "kv_shared_layers"),
    ('{"model_type": "deepseek_v32", "q_lora_rank": null}', "q_lora_rank"),
    ('{"model_type": "deepseek_v32", "index_head_dim": 8}', "index_head_dim"),
    ('{"model_type": "longcat_flash", "attention_bias": true}', "attention_bias"),
    ('{"model_type": "gemma3n", "text_config": {"num_kv_shared_layers": -1}}', "kv_shared_layers"),
])
def test_hostile_configs_are_refused_by_name(cli, tmp_path, config, key):
    f = tmp_path / "config.json"
    f.write_text(config)
    r = cli("count", str(f))
    assert r.code == 2 and r.out == "" and f": {key}: " in r.err and len(r.err.strip().splitlines()) == 1, r.err


@pytest.mark.parametrize("model,words", [
    ("deepseek-v3.2-exp", ("lightning indexer", "indexer key cached", "pairs the main attention runs over")),
    ("longcat-flash-chat", ("zero-computation expert", "lower bound", "as transformers builds it")),
    ("gemma-3n-e4b", ("per-layer embeddings (PLE table)", "AltUp", "LAuReL", "KV-sharing layers")),
])
def test_explain_writes_out_the_new_parts(cli, model, words):
    r = cli("explain", model, "--seq", "8192", "--plain")
    assert r.code == 0, r.err
    for w in words:
        assert w in r.out, w
    # every step's result is the product or sum its factors say, where they are plain numbers
    for line in r.out.splitlines():
        if " = " not in line or "%" in line:
            continue
        *_, factors, result = line.rsplit(" = ", 2)
        expr = factors.replace(",", "").replace("×", "*").replace("−", "-")
        if all(c in "0123456789 +-*/()" for c in expr) and expr.strip():
            assert eval(expr) == int(result.replace(",", "")), line  # noqa: S307 (digits and operators only)


def test_count_json_and_table_name_the_new_parts(cli):
    r = cli("count", "longcat-flash-chat", "--format", "json")
    doc = json.loads(r.out)
    assert doc["params"]["conventions"]["as_built"] > doc["params"]["total"]
    r = cli("count", "deepseek-v3.2-exp", "--seq", "8192", "--format", "json")
    conv = json.loads(r.out)["flops"]["convention"]
    assert conv["sparse_attention"] == "topk" and conv["index_topk"] == 2048
    r = cli("count", "deepseek-v3.2-exp", "--seq", "8192", "--sparse", "dense", "--format", "json")
    assert json.loads(r.out)["flops"]["convention"]["sparse_attention"] == "dense"
    r = cli("count", "gemma-3n-e4b")
    assert r.code == 0 and "new parts (issue 20)" in r.out and "KV-sharing layers" in r.out


# --- the wings hold for drawn models with the new parts (tests/test_invariants.py's checks) --------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from attncalc.spec.arch import Architecture  # noqa: E402


@st.composite
def special_model(draw) -> Architecture:
    """Small models with a lightning indexer, zero experts and a shortcut MoE, or Gemma 3n's parts."""
    n_layers = draw(st.integers(2, 12))
    shape = draw(st.sampled_from(["indexer", "longcat", "gemma3n"]))
    kw: dict = dict(vocab_size=draw(st.integers(1, 300)), n_layers=n_layers, n_ctx=64,
                    mlp=draw(st.sampled_from(["standard", "gated"])), unembedding=draw(st.sampled_from(["untied", "tied"])))
    if shape in ("indexer", "longcat"):
        heads = draw(st.integers(1, 4))
        rope = draw(st.integers(1, 8))
        kw.update(d_model=8 * heads, n_heads=heads, kv_lora_rank=draw(st.integers(1, 16)), qk_rope_head_dim=rope,
                  d_head=draw(st.integers(1, 16)), q_lora_rank=draw(st.integers(1, 12)), d_ff=draw(st.integers(1, 64)))
        e = draw(st.integers(2, 6))
        kw.update(n_experts=e, top_k=draw(st.integers(1, e)), d_ff_expert=draw(st.integers(1, 32)))
    if shape == "indexer":
        kw.update(index_heads=draw(st.integers(1, 4)), index_head_dim=draw(st.integers(rope, rope + 8)),
                  index_topk=draw(st.integers(1, 64)), first_dense_layers=draw(st.integers(0, 3)))
    if shape == "longcat":
        kw.update(zero_experts=draw(st.integers(1, 4)), shortcut_moe=True, moe_every=2)
    if shape == "gemma3n":
        kv = draw(st.integers(1, 3))
        heads = kv * draw(st.integers(1, 3))
        k = draw(st.integers(1, 5))
        first_full = k - 1 if k > 1 else 0
        kw.update(d_model=8 * heads, n_heads=heads, n_kv_heads=kv, d_ff=draw(st.integers(1, 64)), qk_norm="head",
                  block_norms=4, sliding_window=draw(st.integers(1, 32)), sliding_window_pattern=k,
                  kv_shared_layers=draw(st.integers(0, max(0, n_layers - 1 - first_full))),
                  altup_inputs=draw(st.integers(1, 4)), laurel_rank=draw(st.integers(0, 8)),
                  per_layer_dim=draw(st.integers(0, 8)))
    return Architecture(**kw)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.nested_given])
@given(special_model(), st.integers(1, 14), st.integers(1, 3))
def test_drawn_models_with_the_new_parts(a, pp, tp):
    from .test_invariants import test_drawn_models_deal_their_layers_and_parameters as deal

    deal.hypothesis.inner_test(a, pp, tp)
    # training counts every forward part but the untrained indexer: backward = 2 x (forward - indexer)
    t = forward(a, 1, 16, FULL_MATMUL)
    indexer = sum(n.each * times for _, n, times in t.walk() if n.name == "indexer")
    assert training(a, 16, 16, FULL_MATMUL)["backward"] == 2 * (t.total - indexer)
    # the KV-sharing layers cache nothing, the others a key and a value per KV head
    kinds = cache_kinds(a)
    shared = sum(k.count for k in kinds if not k.per_token)
    assert shared == a.kv_shared_layers


def test_longcat_layers_from_either_key(tmp_path):
    """LongcatFlashConfig: num_layers, or num_hidden_layers through its setter (num_layers = value // 2);
    attncalc's n_layers is the sublayers, 2 x num_layers."""
    for body, layers in (('"num_layers": 3', 6), ('"num_hidden_layers": 8', 8), ('"num_layers": 2, "num_hidden_layers": 4', 4)):
        f = tmp_path / "config.json"
        f.write_text('{"model_type": "longcat_flash", ' + body + "}")
        assert load_model(str(f)).n_layers == layers
