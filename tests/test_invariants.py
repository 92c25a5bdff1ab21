"""Invariants over every preset and every config.json in the tests: the wings (memory per GPU,
serving, quantization, explain) read the same description `count` does, so their figures agree
with `count`'s by construction. A model with several block kinds (Gemma's local and global
layers, DeepSeek's dense and MoE layers, Jamba's Mamba layers, T5's encoder) is where a wing that
multiplies one block by n_layers goes wrong; these tests hold every wing to `count` there."""

from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path

import pytest

from attncalc.core.evaluate import count_params
from attncalc.core.memory.activations import ActivationSettings, activation_memory, kind_tensors, total
from attncalc.core.memory.cache import kv_cache
from attncalc.core.memory.layout import Parallelism, stage_params
from attncalc.core.memory.quant import QuantScheme, quantized
from attncalc.core.memory.serving import ServingSetup, stage_weights
from attncalc.core.parts.model import describe, stack_layers
from attncalc.core.report import build
from attncalc.dtypes import nbytes
from attncalc.errors import AttncalcError
from attncalc.spec.load import load_model

sys.path.insert(0, str(Path(__file__).resolve().parent / "snapshots"))
from make_snapshots import models  # noqa: E402  (the same set the snapshots cover)


def _load(ref: str):
    try:
        return load_model(ref)
    except AttncalcError:
        return None  # refused by name (tests/test_hostile.py covers those)


MODELS = [(label, a) for label, ref in models() if (a := _load(ref)) is not None]
IDS = [label for label, _ in MODELS]
MULTI = [(label, a) for label, a in MODELS if len(describe(a).children[1].children) > 1]


def test_the_set_has_models_of_several_kinds():
    assert len(MODELS) > 100 and len(MULTI) >= 20


@pytest.mark.parametrize("label,a", MODELS, ids=IDS)
def test_one_gpu_holds_count_s_parameters(label, a):
    stages = stage_params(a, Parallelism())
    assert stages[0].total == count_params(a).total


@pytest.mark.parametrize("label,a", MODELS, ids=IDS)
def test_pipeline_stages_add_up(label, a):
    """Every layer lands on exactly one stage: the stages hold count's total (plus the tied
    embedding's copy on the last stage)."""
    n = stack_layers(a)
    tied = sum(w.rows * w.cols for w in describe(a).children[0].children
               if getattr(w, "kind", "") == "embedding" and w.name == "token") if a.unembedding == "tied" else 0
    for pp in sorted({2, 3, min(7, n), n} - {1}):
        if pp > n:
            continue
        stages = stage_params(a, Parallelism(pp=pp))
        assert sum(s.total for s in stages) == count_params(a).total + tied
        assert sum(sum(s.kinds.values()) for s in stages) == n


@pytest.mark.parametrize("label,a", MODELS, ids=IDS)
def test_serving_weights_are_count_s_weight_bytes(label, a):
    assert stage_weights(a, ServingSetup()) == [nbytes(count_params(a).total, "bf16")]
    for fmt in ("int4-g128", "fp8", "nvfp4", "mxfp4"):
        q = quantized(a, QuantScheme(fmt))
        assert stage_weights(a, ServingSetup(quant=QuantScheme(fmt))) == [q.bytes]


@pytest.mark.parametrize("label,a", MODELS, ids=IDS)
def test_explain_kv_is_count_s_kv(label, a):
    from attncalc.present.explain import kv_steps

    report = build(a)
    if not a.causal:
        return
    steps = kv_steps(a, report.params)
    bytes_step = next(s for s in steps if s.text.startswith("bytes per token"))
    assert bytes_step.result == report.memory.kv_cache.per_token == kv_cache(a, dtype="bf16", batch=1, context=1).per_token


@pytest.mark.parametrize("label,a", MULTI, ids=[label for label, _ in MULTI])
def test_activations_sum_over_kinds(label, a):
    """At pp 1 the activations are the sum over block kinds of their layers times each kind's
    tensors, plus the embedding and output tensors."""
    st = ActivationSettings(seq=64, dropout=False)
    m = activation_memory(a, st)
    kinds = describe(a).children[1].children
    body = sum((k.count * total(kind_tensors(a, k, st)) for k in kinds), Fraction(0))
    assert m.stages[0].blocks_bytes == body


# --- drawn models of several kinds ---------------------------------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from attncalc.core.parts.model import kinds_in  # noqa: E402
from attncalc.spec.arch import Architecture  # noqa: E402


@st.composite
def multi_kind(draw) -> Architecture:
    """Layer patterns (local/global), MoE every k-th layer after dense ones, Mamba hybrids,
    latent attention and encoder-decoders, small enough to check layer by layer."""
    kv = draw(st.integers(1, 3))
    heads = kv * draw(st.integers(1, 3))
    n_layers = draw(st.integers(1, 14))
    shape = draw(st.sampled_from(["pattern", "moe", "hybrid", "encdec", "latent"]))
    kw: dict = dict(vocab_size=draw(st.integers(1, 300)), d_model=8 * heads, n_layers=n_layers, n_heads=heads,
                    n_kv_heads=kv, d_ff=draw(st.integers(1, 64)), mlp=draw(st.sampled_from(["standard", "gated"])),
                    unembedding=draw(st.sampled_from(["untied", "tied"])), n_ctx=64,
                    block_norms=draw(st.sampled_from([None, 4])))
    if shape == "pattern":
        kw.update(sliding_window=draw(st.integers(1, 32)), sliding_window_pattern=draw(st.integers(1, 6)))
        nope = draw(st.sampled_from([None, 1, 2, 4]))  # NoPE layers (SmolLM3, Cohere 2): kinds of their own
        if nope:
            kw.update(positions="rotary", no_rope_every=nope)
    if shape in ("moe", "hybrid", "latent"):
        e = draw(st.integers(2, 6))
        every = draw(st.integers(1, 3))
        kw.update(n_experts=e, top_k=draw(st.integers(1, e)), moe_every=every, moe_offset=draw(st.integers(0, every - 1)),
                  first_dense_layers=draw(st.integers(0, 3)), d_ff_expert=draw(st.integers(1, 32)),
                  n_shared_experts=draw(st.integers(0, 2)), last_dense_layers=draw(st.integers(0, 2)),
                  router_correction=draw(st.sampled_from(["none", "buffer", "parameter"])))
    if shape == "hybrid":
        every = draw(st.integers(2, 4))
        kw.update(attention_every=every, attention_offset=draw(st.integers(0, min(every - 1, n_layers - 1))),
                  mamba_d_state=draw(st.integers(1, 8)))
    if shape == "encdec":
        kw.update(encoder_layers=draw(st.integers(1, 6)), positions="buckets", norm="rmsnorm")
    if shape == "latent":
        kw.update(n_kv_heads=None, kv_lora_rank=draw(st.integers(1, 16)), qk_rope_head_dim=draw(st.integers(1, 8)),
                  q_lora_rank=draw(st.sampled_from([None, 12])), d_head=draw(st.integers(1, 16)))
    return Architecture(**kw)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(multi_kind(), st.integers(1, 14), st.integers(1, 3))
def test_drawn_models_deal_their_layers_and_parameters(a, pp, tp):
    n = stack_layers(a)
    pp = min(pp, n)
    # kinds_in by arithmetic = layer by layer
    for lo in range(n):
        for hi in (lo + 1, n):
            one = {}
            for i in range(lo, hi):
                for k, c in kinds_in(a, i, i + 1).items():
                    one[k] = one.get(k, 0) + c
            assert one == kinds_in(a, lo, hi)
    tied = a.vocab_size * a.d_model if a.unembedding == "tied" and pp > 1 else 0
    stages = stage_params(a, Parallelism(pp=pp))
    assert sum(s.total for s in stages) == count_params(a).total + tied
    if a.n_heads % tp == 0 and (a.kv_heads % tp == 0 or tp % a.kv_heads == 0):
        split = stage_params(a, Parallelism(pp=pp, tp=tp))
        assert sum(s.total for s in split) * tp >= count_params(a).total + tied  # nothing lost to the split
    st_ = ActivationSettings(seq=16, pp=pp)
    m = activation_memory(a, st_)
    assert sum(s.blocks for s in m.stages) == n
    kinds = {k.name: k for k in describe(a).children[1].children}
    for s in m.stages:
        body = sum((c * total(kind_tensors(a, kinds[k], st_)) for k, c in s.kinds.items()), Fraction(0))
        assert s.blocks_bytes == s.in_flight * body
    assert stage_weights(a, ServingSetup()) == [nbytes(count_params(a).total, "bf16")]


@pytest.mark.parametrize("label,a", MODELS, ids=IDS)
def test_run_counts_what_the_kernel_executes(label, a):
    """`run`'s counted FLOPs are the block the kernel executes, written out from its shapes: the
    Q, K, V and output projections and 4 d_head per (query, key) pair of its mask; a model whose
    block the kernel cannot execute (latent attention, chunks, hybrids) is refused by name."""
    from attncalc.core.workload import Convention, Mask
    from attncalc.run.plan import plan

    b, s = 2, 37
    try:
        p = plan(a, batch=b, seq=s, conv=Convention())
    except AttncalcError as err:
        assert a.is_latent or a.is_encoder_decoder or a.has_mamba or a.attention_chunk, err
        return
    d, h, kv, dh = a.d_model, p.heads, p.kv_heads, a.head_dim
    pairs = Mask(p.causal, p.window).pairs(s)
    executed = 2 * b * s * d * (h + 2 * kv) * dh + 2 * b * s * h * dh * d + 4 * h * dh * b * pairs
    assert p.flops == executed
