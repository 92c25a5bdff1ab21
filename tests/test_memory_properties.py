"""Invariants of the memory model (hypothesis)."""

from __future__ import annotations

from fractions import Fraction as F

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attncalc.core.memory.activations import ActivationSettings, block_tensors, total
from attncalc.core.evaluate import count_params
from attncalc.core.memory.layout import Parallelism, stage_params
from attncalc.core.memory.training import OPTIMIZERS, model_state_bytes
from attncalc.spec.arch import Architecture

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def archs(draw):
    heads = draw(st.sampled_from([1, 2, 4, 8]))
    kv = draw(st.sampled_from([k for k in (1, 2, 4, 8) if heads % k == 0]))
    experts = draw(st.sampled_from([1, 1, 4]))
    return Architecture(vocab_size=draw(st.integers(8, 300)), d_model=heads * draw(st.integers(1, 16)),
                        n_layers=draw(st.integers(1, 9)), n_heads=heads, n_kv_heads=kv,
                        d_ff=draw(st.integers(1, 64)), mlp=draw(st.sampled_from(["standard", "gated"])),
                        n_experts=experts, top_k=min(2, experts), unembedding=draw(st.sampled_from(["untied", "tied"])),
                        qkv_bias=draw(st.booleans()), mlp_bias=draw(st.booleans()))


@FAST
@given(archs(), st.integers(1, 9), st.integers(1, 9), st.sampled_from(list(OPTIMIZERS)))
def test_zero3_shards_sum_to_the_unsharded_total(a, dp, pp, opt):
    """ZeRO-3: summing every rank's weights, gradients and optimizer state over all data-parallel
    ranks and pipeline stages gives the unsharded model state exactly (untied: no copy of the
    embedding on the last stage)."""
    a = a.replace(unembedding="untied")
    pp = min(pp, a.n_layers)
    o = OPTIMIZERS[opt]
    n = count_params(a).total
    stages = stage_params(a, Parallelism(pp=pp))
    assert sum(s.total for s in stages) == n
    summed = F(0)
    for s in stages:
        for rank in range(dp):
            summed += model_state_bytes(s.total, o, 3, dp, rank).total
    assert summed == n * o.bytes_per_param




@FAST
@given(archs(), st.integers(1, 64), st.integers(1, 8), st.booleans(), st.booleans(),
       st.sampled_from(["none", "selective", "full"]), st.sampled_from([1, 2, 4]), st.booleans())
def test_activations_linear_in_micro_batch(a, seq, b, flash, dropout, recompute, tp, sp):
    st_ = ActivationSettings(seq=seq, micro_batch=1, tp=tp, flash=flash, dropout=dropout, recompute=recompute,
                             sequence_parallel=sp)
    one = total(block_tensors(a, st_))
    many = total(block_tensors(a, ActivationSettings(**{**st_.__dict__, "micro_batch": b})))
    assert many == b * one


@FAST
@given(archs(), st.integers(1, 64), st.booleans(), st.sampled_from([1, 2, 4]))
def test_activations_quadratic_in_sequence_only_through_scores(a, s, dropout, tp):
    """Without flash, per-block bytes = α·s + β·s²; β·s² is exactly the S×S tensors (softmax
    output, its dropout mask and output); everything else is linear in s. With flash, linear."""
    def parts(seq, flash=False):
        ts = block_tensors(a, ActivationSettings(seq=seq, tp=tp, dropout=dropout, flash=flash))
        quad = sum((t.nbytes for t in ts if t.name in ("softmax_output", "softmax_dropout_mask",
                                                         "attention_dropout_output")), F(0))
        return total(ts) - quad, quad

    lin1, q1 = parts(s)
    lin2, q2 = parts(2 * s)
    lin3, q3 = parts(3 * s)
    assert lin2 == 2 * lin1 and lin3 == 3 * lin1
    assert q2 == 4 * q1 and q3 == 9 * q1
    assert q1 > 0
    f1, _ = parts(s, True)
    f2, _ = parts(2 * s, True)
    assert f2 == 2 * f1


@FAST
@given(archs(), st.sampled_from([1, 2, 4, 8]))
def test_pipeline_first_stage_holds_most(a, pp):
    from attncalc.core.memory.activations import activation_memory

    pp = min(pp, a.n_layers)
    m = activation_memory(a, ActivationSettings(seq=16, pp=pp, dropout=False))
    firsts = [s.blocks_bytes for s in m.stages]
    assert firsts[0] == max(firsts)


@FAST
@given(archs(), st.integers(1, 64), st.integers(1, 4))
def test_gqa_shrinks_exactly_the_key_and_value_tensors(a, s, b):
    """Grouped-query attention changes only K and V: 2 bytes × s·b·(n_heads − n_kv)·d_head each."""
    st_ = ActivationSettings(seq=s, micro_batch=b)
    mha = total(block_tensors(a.replace(n_kv_heads=None), st_))
    gqa = total(block_tensors(a, st_))
    assert mha - gqa == 2 * 2 * s * b * (a.n_heads - a.kv_heads) * a.head_dim


@FAST
@given(archs(), st.integers(1, 9), st.integers(1, 2048))
def test_serving_kv_cache_at_tp1_is_counts_kv_cache(a, batch, context):
    """`fit --serve` at tp = 1 and `count`'s memory.kv_cache.total are the same bytes."""
    from attncalc.core.memory.cache import kv_cache
    from attncalc.core.memory.serving import ServingSetup, kv_cache_per_gpu

    ref = kv_cache(a, dtype="bf16", batch=batch, context=context).total
    assert kv_cache_per_gpu(a, ServingSetup(batch=batch, context=context)) == ref


@FAST
@given(archs(), st.sampled_from(["int4-g128", "int8", "fp8", "mxfp4", "nvfp4", "nf4-dq", "bf16"]),
       st.sampled_from([1, 2, 4]))
def test_serving_weights_split_over_tp_never_exceed_the_whole(a, fmt, tp):
    from attncalc.core.memory.quant import QuantScheme, quantized
    from attncalc.core.memory.serving import ServingSetup, weights_per_gpu

    if a.n_heads % tp or (a.kv_heads % tp and tp % a.kv_heads):
        return
    whole = quantized(a, QuantScheme(fmt)).bytes
    assert weights_per_gpu(a, ServingSetup(tp=1, quant=QuantScheme(fmt))) == whole
    assert weights_per_gpu(a, ServingSetup(tp=tp, quant=QuantScheme(fmt))) * tp >= whole
