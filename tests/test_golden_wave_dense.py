"""The dense and mixture-of-experts types of the 2026 wave (issue 20) against PyTorch +
transformers 5.24 (tests/golden/make_golden_wave.py wrote golden_wave.json on the meta device;
nothing here computes an expected number): for every config of glm4_moe, glm4, minimax_m2,
ernie4_5, ernie4_5_moe, hunyuan_v1_dense, hunyuan_v1_moe, smollm3, seed_oss, dots1, granite,
phimoe, cohere, cohere2, exaone4, apertus, arcee and olmo3 in golden_wave.json: total and active
parameters, every layer kind's count, total, attention / MLP / norm split and every parameter's
shape, FlopCounterMode's forward and forward+backward (eager attention over every pair, matmuls
only), the routed experts' matmuls (the golden's moe_check), the cache each layer keeps per token
and one decode step. The configs transformers cannot build are refused by name."""

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

WAVE = json.loads((GOLDEN / "golden_wave.json").read_text())
TYPES = ("glm4_moe", "glm4", "minimax_m2", "ernie4_5", "ernie4_5_moe", "hunyuan_v1_dense", "hunyuan_v1_moe",
         "smollm3", "seed_oss", "dots1", "granite", "phimoe", "cohere", "cohere2", "exaone4", "apertus", "arcee",
         "olmo3")
GOLDEN_DENSE = {n: m for n, m in WAVE["models"].items() if m["model_type"] in TYPES}
NAMES = sorted(GOLDEN_DENSE)
CONFIGS = GOLDEN / "hf_configs_wave"
FULL_MATMUL = Convention(attention="full", ops="matmul")  # what FlopCounterMode counts (eager attention)
# The configs transformers 5.24 fails to build (golden_wave.json "failures"): refused, named.
REFUSED = {"defaults-dots1": "n_routed_experts", "defaults-hunyuan-v1-dense": "head_dim",
           "defaults-hunyuan-v1-moe": "head_dim"}


def load(name):
    return load_model(str(CONFIGS / f"{name}.json"))


def test_every_type_has_a_golden():
    assert {m["model_type"] for m in GOLDEN_DENSE.values()} == set(TYPES)
    assert set(REFUSED) <= set(WAVE["failures"])


@pytest.mark.parametrize("name", NAMES)
def test_totals_and_active(name):
    g = GOLDEN_DENSE[name]
    s = param_summary(load(name))
    assert s["total"] == g["params_total"]
    assert s["conventions"]["active"] == (g["params_active"] if g["params_active"] is not None else g["params_total"])


def _matched_kinds(name):
    """(golden layer kind, our kind) pairs, matched on (count, parameters of one layer)."""
    g = GOLDEN_DENSE[name]
    kinds = param_summary(load(name))["kinds"]
    assert Counter((k["count"], k["per_block"]) for k in kinds) == Counter((k["count"], k["total"]) for k in g["layer_kinds"])
    ours = {(k["count"], k["per_block"]): k for k in kinds}
    return [(gk, ours[(gk["count"], gk["total"])]) for gk in g["layer_kinds"]]


@pytest.mark.parametrize("name", NAMES)
def test_layer_kinds_counts_totals_and_splits(name):
    """Each kind of layer transformers builds, with its count and one layer's total; its attention
    (with query/key norms) and MLP (with router, shared experts and activation scalars) modules'
    totals; the rest of the layer is its norms (two, four for GLM-4, one for Cohere's parallel block)."""
    for gk, k in _matched_kinds(name):
        ch = gk["children"]
        att, mlp = ch["self_attn"], ch["mlp"]
        assert k["attention_per_block"] == att and k["mlp_per_block"] == mlp, (ch, k)
        assert k["norms_per_block"] == gk["total"] - att - mlp


def _role(param: str) -> tuple[str, ...]:
    """What a parameter of a transformers layer is, by its name (the names WAVE_NOTES.md gives)."""
    parts = param.split(".")
    last = parts[-1]
    if parts[0] == "self_attn":
        proj = {"query_layernorm": "q_norm", "key_layernorm": "k_norm"}.get(parts[1], parts[1])
        return ("attention", proj, last)
    if parts[0] == "mlp":
        if parts[1] == "experts":
            return ("experts", last)
        if parts[1] in ("shared_experts", "shared_mlp"):
            return ("shared", parts[2], last)
        if last == "e_score_correction_bias":
            return ("correction",)
        if parts[1] in ("gate", "router") and (len(parts) == 3 or parts[2] == "wg"):
            return ("router",)
        if parts[1] == "act_fn":
            return ("act_fn", last)
        return ("dense", parts[1], last)
    assert "layernorm" in parts[0] and len(parts) == 2, param
    return ("norm", last)


def _leaf(kind, path: str):
    """(shape, copies in one layer) of our first leaf at a dotted path below the kind."""
    for p, n, times in kind.walk():
        if not n.children and p.split(".", 1)[1].endswith(path):
            return n.shape, times // kind.count
    raise AssertionError(f"no leaf {path} in {kind.name}")


def _expected(a, kind, role: tuple[str, ...]) -> list[int]:
    """The shape transformers stores for ``role``, put together from our description's leaves
    (a projection holds every head's slice; fused experts stack every expert)."""
    (r, c), heads = _leaf(kind, "query")
    (kr, kc), kv = _leaf(kind, "key")
    if role[0] == "attention":
        proj, what = role[1], role[2]
        if what == "bias":
            (rows, _), _ = _leaf(kind, "biases.qkv") if proj != "o_proj" else _leaf(kind, "biases.out")
            split = {"q_proj": heads * r, "k_proj": kv * kr, "v_proj": kv * kr}
            assert proj == "o_proj" or rows == sum(split.values())
            return [rows if proj == "o_proj" else split[proj]]
        if proj == "q_proj":
            return [heads * r, c]
        if proj in ("k_proj", "v_proj"):
            (vr, vc), _ = _leaf(kind, "key" if proj == "k_proj" else "value_down")
            return [kv * vr, vc]
        if proj == "o_proj":
            (orow, ocol), _ = _leaf(kind, "value_up")
            return [orow, heads * ocol]
        (rows, _), _ = _leaf(kind, proj)  # q_norm / k_norm: over d_head, or every head's
        return [rows] if (a.family != "cohere" or rows == r) else [rows // r, r]
    if role[0] == "experts":
        (gr, gc), _ = _leaf(kind, "expert.up")
        e = a.n_experts
        return [e, 2 * gr, gc] if role[1] == "gate_up_proj" else [e, gc, gr]
    if role[0] in ("shared", "dense"):
        proj, what = role[1], role[2]
        prefix = "shared." if role[0] == "shared" else "mlp."
        if proj == "gate_up_proj":  # GLM-4's fused gate and up
            (ur, uc), _ = _leaf(kind, prefix + "up")
            return [2 * ur, uc]
        (rows, cols), _ = _leaf(kind, prefix + proj.removesuffix("_proj"))
        return [rows, cols]
    if role[0] == "router":
        return list(_leaf(kind, "mlp.router")[0])
    if role[0] == "correction":  # ERNIE 4.5: a Parameter [1, n_experts]
        return [1, _leaf(kind, "mlp.router_correction")[0][0]]
    if role[0] == "act_fn":  # xIELU's alpha_p and alpha_n, one scalar each
        (rows, _), _ = _leaf(kind, "mlp.activation_params")
        assert rows == 2
        return [1]
    (rows, _), _ = _leaf(kind, "norms.norm")
    return [a.norm_params // (2 if role[1] in ("weight", "bias") and a.norm_params == 2 * a.d_model else 1)]


@pytest.mark.parametrize("name", NAMES)
def test_every_parameter_shape_of_every_layer_kind(name):
    """Every parameter transformers builds in one layer of each kind has the shape our description
    gives it (heads, experts and fused projections put together), and together they are that
    layer's parameters: nothing ours that transformers lacks."""
    a = load(name)
    tree = count_params(a)
    kinds = {(k.count, k.each): k for k in tree.get("blocks").children}
    for gk in GOLDEN_DENSE[name]["layer_kinds"]:
        kind = kinds[(gk["count"], gk["total"])]
        shapes = gk["param_shapes"]
        for param, shape in shapes.items():
            assert _expected(a, kind, _role(param)) == shape, (param, shape)
        assert sum(prod(s) for s in shapes.values()) == kind.each


def test_buffers_are_not_parameters():
    """The routing correction bias is a buffer (in the checkpoint, not among the parameters) for
    GLM-4.5, dots.llm1 and MiniMax-M2, and a Parameter for ERNIE 4.5: counted there only."""
    for name in NAMES:
        g = GOLDEN_DENSE[name]
        a = load(name)
        buffers = [b for k in g["layer_kinds"] for b in k["buffers"] if b.endswith("e_score_correction_bias")]
        params = [p for k in g["layer_kinds"] for p in k["param_shapes"] if p.endswith("e_score_correction_bias")]
        assert a.router_correction == ("buffer" if buffers else "parameter" if params else "none"), name


FLOP_CASES = [(n, s) for n in NAMES for s in sorted(GOLDEN_DENSE[n]["flops"])]


@pytest.mark.parametrize("name,shape", FLOP_CASES, ids=[f"{n}-{s}" for n, s in FLOP_CASES])
def test_flop_counter_forward_and_backward(name, shape):
    f = GOLDEN_DENSE[name]["flops"][shape]
    batch, seq = f["batch"], f["seq"]
    a = load(name)
    assert forward(a, batch, seq, FULL_MATMUL).total == f["forward"]
    assert training(a, batch * seq, seq, FULL_MATMUL)["total"] == f["forward_backward"]


MOE_CASES = [(n, s) for n, s in FLOP_CASES if "moe_check" in GOLDEN_DENSE[n]["flops"][s]]


@pytest.mark.parametrize("name,shape", MOE_CASES, ids=[f"{n}-{s}" for n, s in MOE_CASES])
def test_routed_expert_matmuls(name, shape):
    """make_golden_wave.py's moe_check: the forward with the experts module muted, and the routed
    experts' FLOPs (2 x tokens x top_k x 3 d_model d_ff_expert per MoE layer, as batched_mm runs
    them): ours are the expert nodes of our forward tree."""
    f = GOLDEN_DENSE[name]["flops"][shape]
    check = f["moe_check"]
    a = load(name)
    assert check["experts_computed_per_token"] == a.top_k
    fwd = forward(a, f["batch"], f["seq"], FULL_MATMUL)
    experts = sum(k.count * k.get("mlp.expert").total for k in fwd.get("blocks").children if k.get("mlp.expert"))
    assert experts == check["routed_expert_flops"]
    assert fwd.total - experts == check["forward_experts_muted"]


def _golden_cache(name):
    """(layers, cached numbers per token per layer, sliding?) per kind of cache layer, from the
    tensors after prefills of 4 and 7 tokens (batch 1)."""
    c = GOLDEN_DENSE[name]["cache"]
    n4, n7 = c["prefill_lengths"]
    out = Counter()
    for k in c["kinds"]:
        grow = sum(prod(k["tensors_after_prefill_7"][t]) - prod(k["tensors_after_prefill_4"][t])
                   for t in k["per_token_tensors"])
        out[(grow // (n7 - n4), "Sliding" in k["cache_layer_class"])] += k["count"]
    return out


@pytest.mark.parametrize("name", NAMES)
def test_cache_per_layer(name):
    """What each layer keeps per token (2 x n_kv_heads x d_head), layer kind by layer kind, and
    which layers keep only a sliding window of it (transformers' DynamicSlidingWindowLayer)."""
    a = load(name)
    ours = Counter()
    for k in cache_kinds(a):
        ours[(k.per_token, k.window is not None)] += k.count
        assert k.window in (None, a.sliding_window)
    assert ours == _golden_cache(name)


@pytest.mark.parametrize("name", NAMES)
def test_one_decode_step(name):
    """One new token against a 7-token cache (transformers' decode step, FlopCounterMode): the
    projections of one token and the scores and values over its 8 keys."""
    c = GOLDEN_DENSE[name]["cache"]["decode_step"]
    assert decode(load(name), 1, c["cached_tokens"], FULL_MATMUL).total == c["forward"]


@pytest.mark.parametrize("name,key", sorted(REFUSED.items()))
def test_configs_transformers_cannot_build_are_refused_by_name(cli, name, key):
    r = cli("count", str(CONFIGS / f"{name}.json"))
    assert r.code == 2 and r.out == "" and f": {key}: " in r.err and len(r.err.strip().splitlines()) == 1, r.err


# --- the layer patterns, layer by layer ----------------------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from attncalc.core.parts.model import layer_at, layer_counts  # noqa: E402
from attncalc.spec.hf import from_hf_config  # noqa: E402


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 40), st.integers(-2, 42), st.integers(-1, 42), st.integers(1, 5), st.integers(1, 3))
def test_ernie_moe_layers_follow_transformers_rule(n, start, end, interval, nope):
    """Ernie4_5_MoeDecoderLayer: layer i is MoE iff (i + 1) % moe_layer_interval == 0 and
    moe_layer_start_index <= i <= moe_layer_end_index (-1: the last layer): the layers our reading
    makes MoE, counted by arithmetic over the pattern, are exactly those."""
    cfg = {"model_type": "ernie4_5_moe", "num_hidden_layers": n, "moe_layer_start_index": start,
           "moe_layer_end_index": end, "moe_layer_interval": interval}
    a = from_hf_config(cfg, "config.json", "m").replace(positions="rotary", no_rope_every=nope)
    last = n - 1 if end == -1 else end
    rule = [(i + 1) % interval == 0 and start <= i <= last for i in range(n)]
    assert [layer_at(a, i).moe for i in range(n)] == rule
    assert sum(c for k, c, _ in layer_counts(a) if k.moe) == sum(rule)
    for lo in range(n):  # any stretch of layers (a pipeline stage), by arithmetic = one by one
        for hi in (lo + 1, n):
            by_layer = Counter(layer_at(a, i) for i in range(lo, hi))
            assert Counter({k: c for k, c, _ in layer_counts(a, lo, hi)}) == by_layer


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 40), st.integers(1, 6))
def test_smollm3_nope_layers_follow_transformers_rule(n, interval):
    """SmolLM3Config.__post_init__: no_rope_layers[i] = int((i + 1) % no_rope_layer_interval != 0);
    the same list given explicitly reads the same."""
    flags = [int((i + 1) % interval != 0) for i in range(n)]
    for cfg in ({"no_rope_layer_interval": interval}, {"no_rope_layers": flags}):
        a = from_hf_config({"model_type": "smollm3", "num_hidden_layers": n} | cfg, "config.json", "m")
        if interval == 1:
            assert a.positions == "none"
            continue
        assert [int(layer_at(a, i).rope) for i in range(n)] == flags


HOSTILE = [
    ('{"model_type": "ernie4_5_moe", "use_bias": true}', "use_bias"),
    ('{"model_type": "hunyuan_v1_moe", "head_dim": 128, "num_experts": 8, "moe_topk": [2, 1], "num_hidden_layers": 2}',
     "moe_topk"),
    ('{"model_type": "hunyuan_v1_moe", "head_dim": 128, "num_experts": [8, 8], "num_hidden_layers": 2}', "num_experts"),
    ('{"model_type": "hunyuan_v1_moe", "head_dim": 128}', "num_experts"),  # 1 expert: a router and one MLP
    ('{"model_type": "hunyuan_v1_dense", "head_dim": 128, "use_cla": true}', "use_cla"),
    ('{"model_type": "hunyuan_v1_dense", "attention_head_dim": 128}', "head_dim"),
    ('{"model_type": "minimax_m2", "attn_type_list": [0, 1], "num_hidden_layers": 2}', "attn_type_list"),
    ('{"model_type": "minimax_m2", "shared_intermediate_size": 512}', "shared_intermediate_size"),
    ('{"model_type": "smollm3", "no_rope_layers": [1, 0, 0, 1], "num_hidden_layers": 4}', "no_rope_layers"),
    ('{"model_type": "smollm3", "use_sliding_window": true, "sliding_window": 4096}', "use_sliding_window"),
    ('{"model_type": "dots1", "n_routed_experts": 8, "num_experts_per_tok": 2, "n_shared_experts": 1, '
     '"max_window_layers": 10}', "max_window_layers"),
    ('{"model_type": "dots1", "n_routed_experts": 8, "num_experts_per_tok": 2}', "n_shared_experts"),
    ('{"model_type": "exaone4", "sliding_window": null}', "sliding_window"),
    ('{"model_type": "exaone4", "sliding_window_pattern": "LLLG"}', "sliding_window_pattern"),
    ('{"model_type": "cohere2", "layer_types": ["full_attention", "sliding_attention"], "num_hidden_layers": 2}',
     "layer_types"),
    ('{"model_type": "glm4_moe", "n_routed_experts": 1}', "n_routed_experts"),
    ('{"model_type": "granite", "head_dim": null}', "head_dim"),
]


@pytest.mark.parametrize("config,key", HOSTILE, ids=[k for _, k in HOSTILE])
def test_what_is_not_modelled_is_refused_by_name(cli, tmp_path, config, key):
    f = tmp_path / "config.json"
    f.write_text(config)
    r = cli("count", str(f))
    assert r.code == 2 and r.out == "" and r.err.startswith(f"attncalc: error: {f}: {key}: "), r.err
    assert len(r.err.strip().splitlines()) == 1


VARIANTS = json.loads((GOLDEN / "golden_wave_dense.json").read_text())["variants"]
# Built and run by transformers, but a layer pattern attncalc does not describe: refused, named.
NOT_MODELLED = {"dots1-tail-sliding": "max_window_layers"}


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_small_variants_against_transformers(name, cli, tmp_path):
    """Made-up small configs that turn on what the published ones leave off (make_golden_wave_dense.py):
    the same total and FlopCounterMode forward and forward+backward; a config transformers cannot
    build or run (its error recorded) is refused by name, as is a pattern attncalc does not model."""
    g = VARIANTS[name]
    f = tmp_path / "config.json"
    f.write_text(json.dumps(g["config"]))
    if "failed" in g or name in NOT_MODELLED:
        r = cli("count", str(f))
        key = NOT_MODELLED.get(name, "sliding_window")
        assert r.code == 2 and r.err.startswith(f"attncalc: error: {f}: {key}: "), (g.get("failed"), r.err)
        return
    a = load_model(str(f))
    assert count_params(a).total == g["params_total"]
    for shape in g["flops"].values():
        b, s = shape["batch"], shape["seq"]
        assert forward(a, b, s, FULL_MATMUL).total == shape["forward"]
        assert training(a, b * s, s, FULL_MATMUL)["total"] == shape["forward_backward"]


def test_what_differs_from_the_checkpoint_is_said(cli):
    """Hunyuan: transformers 5.24 builds experts and one shared MLP of intermediate_size whatever
    the published per-layer lists say (for Hunyuan-A13B they agree); MTP weights no type here
    builds; the defaults a file leaves to transformers; NoPE layers in show and explain."""
    assert "the count is the checkpoint's" in load("hunyuan-a13b").notes
    a = from_hf_config({"model_type": "hunyuan_v1_moe", "head_dim": 128, "num_experts": 8, "moe_topk": 2,
                        "intermediate_size": 3072, "moe_intermediate_size": 1536, "num_shared_expert": 2},
                       "config.json", "m")
    assert a.d_ff_expert == a.d_ff_shared == 3072 and "routed experts 1536 wide" in a.notes
    assert "2 shared experts" in a.notes and "the checkpoint's count differs" in a.notes
    for name in ("glm-4.5", "minimax-m2"):
        assert "transformers 5.24 builds no MTP module" in load(name).notes
    # the defaults a file leaves to transformers are recorded (show lists them; the CLI notes them)
    assert ("default", str(CONFIGS / "defaults-seed-oss.json"), "hidden_size", "4,096") in load("defaults-seed-oss")._read
    assert not [r for r in load("seed-oss-36b")._read if r[2] == "hidden_size"]
    r = cli("show", str(CONFIGS / "defaults-smollm3.json"), "--format", "json")
    assert r.code == 0 and json.loads(r.out)["model"]["no_rope_every"] == 4
    r = cli("explain", str(CONFIGS / "defaults-smollm3.json"), "--plain")
    assert "layers with no rotary embedding (NoPE), every 4-th: 3, 7, 11" in r.out


# --- the presets ---------------------------------------------------------------------------------

# preset -> the golden config it was written from (its source cites the same file)
PRESETS = {"glm-4.5": "glm-4.5", "glm-4.5-air": "glm-4.5-air", "glm-4-32b-0414": "glm-4-32b-0414",
           "minimax-m2": "minimax-m2", "ernie-4.5-0.3b": "defaults-ernie4-5", "ernie-4.5-21b-a3b": "defaults-ernie4-5-moe",
           "hunyuan-7b": "hunyuan-7b-instruct", "hunyuan-a13b": "hunyuan-a13b", "smollm3-3b": "defaults-smollm3",
           "seed-oss-36b": "seed-oss-36b", "dots-llm1": "dots.llm1-base", "granite-3.1-8b": "granite-3.1-8b-instruct",
           "command-r": "command-r-v01", "command-r7b": "command-r7b-12-2024", "exaone-4.0-32b": "exaone-4.0-32b",
           "apertus-8b": "apertus-8b", "afm-4.5b": "afm-4.5b", "olmo-3.1-32b": "olmo-3.1-32b-instruct"}


@pytest.mark.parametrize("preset,name", sorted(PRESETS.items()))
def test_presets_are_their_golden_configs(preset, name):
    """Each preset counts as transformers built its config: total, active, forward and training
    FLOPs, and the same layer kinds."""
    g = GOLDEN_DENSE[name]
    a = load_model(preset)
    assert a.source and a.family == g["model_type"]
    s = param_summary(a)
    assert s["total"] == g["params_total"]
    assert s["conventions"]["active"] == (g["params_active"] or g["params_total"])
    f = g["flops"]["b1_s128"]
    assert forward(a, 1, 128, FULL_MATMUL).total == f["forward"]
    assert training(a, 128, 128, FULL_MATMUL)["total"] == f["forward_backward"]
    assert Counter((k["count"], k["per_block"]) for k in s["kinds"]) == Counter(
        (k["count"], k["total"]) for k in g["layer_kinds"])


def test_phi_3_5_moe_is_the_defaults_with_the_published_biases():
    """transformers' PhimoeConfig defaults are Phi-3.5-MoE's shapes without its biases (WAVE_NOTES
    2.14): the preset adds a bias to q, k, v and o of every layer and to the LM head."""
    g = GOLDEN_DENSE["defaults-phimoe"]
    shapes = g["layer_kinds"][0]["param_shapes"]
    biases = sum(shapes[f"self_attn.{p}_proj.weight"][0] for p in "qkvo") * g["layer_kinds"][0]["count"]
    head = g["non_layer_params"]["lm_head.weight"][0]
    s = param_summary(load_model("phi-3.5-moe"))
    assert s["total"] == g["params_total"] + biases + head
    assert s["conventions"]["active"] == g["params_active"] + biases + head
    assert round(s["total"] / 1e9) == 42 and round(s["conventions"]["active"] / 1e8) == 66  # the model card's 42B, 6.6B
