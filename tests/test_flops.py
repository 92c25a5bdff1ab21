"""FLOP conventions, exactness and growth; published estimates reproduced from their papers."""

from __future__ import annotations

from attncalc import Architecture, load_model
from attncalc.core.estimates import estimates
from attncalc.core.evaluate import decode, forward, training
from attncalc.core.workload import Convention, attention_pairs

CAUSAL, FULL = Convention(attention="causal"), Convention(attention="full")


def brute_pairs(seq: int, causal: bool, window: int | None) -> int:
    return sum(1 for i in range(seq) for j in range(seq)
               if (not causal or (j <= i and (window is None or i - j < window))))


def test_attention_pairs_match_brute_force_for_odd_and_even_lengths():
    for seq in (1, 2, 3, 7, 37, 128, 129):
        for window in (None, 1, 4, 37, 500):
            assert attention_pairs(seq, True, window) == brute_pairs(seq, True, window), (seq, window)
        assert attention_pairs(seq, False) == seq * seq


def test_causal_is_exact_for_odd_lengths():
    a = load_model("gpt2-small")
    full, causal = forward(a, 1, 37, FULL).total, forward(a, 1, 37, CAUSAL).total
    # the two differ exactly by the masked pairs: 37*36/2 of them, 4 d_head FLOPs per head and layer
    assert full - causal == 12 * 12 * 4 * 64 * (37 * 36 // 2)


def test_counts_stay_exact_past_2_to_the_63():
    a = Architecture(vocab_size=256_000, d_model=65_536, n_layers=192, n_heads=512, d_ff=4 * 65_536 * 3,
                     unembedding="untied", n_ctx=8192)
    tokens = 100 * 10**12 + 1001  # 100 trillion tokens and a last, partial sequence
    t = training(a, tokens, 8192, CAUSAL)
    assert t["total"] > 2**63 and isinstance(t["total"], int)
    assert t["total"] == 3 * t["forward"] and t["sequences"] == tokens // 8192 + 1
    per_seq = forward(a, 1, 8192, CAUSAL).total
    assert t["forward"] == (tokens // 8192) * per_seq + forward(a, 1, 1001 + 10**14 % 8192, CAUSAL).total


def test_decode_grows_linearly_with_context():
    a = load_model("llama-3-8b")
    d = [decode(a, 1, c, CAUSAL).total for c in (1000, 2000, 3000, 4000)]
    assert d[1] - d[0] == d[2] - d[1] == d[3] - d[2] > 0
    # each extra cached token costs 4 d_head FLOPs per query head per layer
    assert d[1] - d[0] == 1000 * 4 * 128 * 32 * 32


def test_prefill_attention_grows_quadratically():
    a = load_model("gpt2-small")
    passes = [forward(a, 1, s, FULL) for s in (256, 512, 1024)]
    for name in ("scores", "weighted_values"):
        att = [p.get(f"blocks.block.attention.heads.head.{name}").value for p in passes]
        assert att[1] == 4 * att[0] and att[2] == 4 * att[1]
    proj = [p.get("blocks.block.attention.heads.head.query").value for p in passes]
    assert proj[1] == 2 * proj[0] and proj[2] == 2 * proj[1]  # projections grow linearly


def test_sliding_window_caps_attention():
    a = load_model("mistral-7b")
    w = a.sliding_window
    inside, beyond = decode(a, 1, w + 10, CAUSAL).total, decode(a, 1, w + 1000, CAUSAL).total
    assert inside == beyond  # past the window the new token sees W keys, whatever the context


def test_macs_are_half_of_matmul_flops():
    a = load_model("llama-2-7b")
    assert 2 * forward(a, 1, 99, Convention(macs=True)).total == forward(a, 1, 99, CAUSAL).total


def test_ops_all_adds_elementwise_work_only():
    a = load_model("gpt2-small")
    mm, everything = forward(a, 2, 64, CAUSAL), forward(a, 2, 64, Convention(attention="causal", ops="all"))
    assert everything.sum_kind("matmul", "attention") == mm.total
    ew = everything.sum_kind("elementwise")
    # softmax: 5 per causal score per head per layer is part of it
    assert ew > 12 * 12 * 5 * 2 * attention_pairs(64, True)


def test_gpt3_training_compute_matches_table_d1():
    """GPT-3 Table D.1: 175B trained on 300B tokens: 3.14e23 FLOPs, 3,640 PF-days, by 6ND."""
    a = load_model("gpt3")
    est = estimates(a, 300 * 10**9, 2048)["6ND"].value
    assert round(est / 1e21) == 314
    assert round(est / (1e15 * 86400), -1) == 3640
    exact = training(a, 300 * 10**9, 2048, CAUSAL)["total"]
    assert 1.0 < exact / est < 1.02  # attention over 2,048 tokens adds ~1.4% (causal)


def test_megatron_eq3_is_the_exact_count_with_recompute_less_one_logits_pass():
    """Narayanan et al. 2021 eq. 3 assumes full attention, d_ff = 4h and recomputation, and prices the
    logits at 3 passes, not 4. Under those options our exact count differs by exactly 2·D·h·V."""
    a = Architecture(vocab_size=51200, d_model=1024, n_layers=4, n_heads=16, unembedding="untied", norm="rmsnorm")
    D, S = 8 * 2048, 2048
    exact = training(a, D, S, FULL, recompute=True)["total"]
    assert estimates(a, D, S)["megatron"].value == exact - 2 * D * a.d_model * a.vocab_size


def test_palm_formula_is_the_exact_count_for_a_bias_free_tied_model():
    """PaLM Appendix B: 6N + 12·L·H·Q·T per token, full attention, N all parameters. For a model
    like PaLM (no biases or norms, tied embedding) 6N prices the logits through the embedding table,
    so the estimate is the exact full-attention matmul count; untied, it also prices the input
    table as if it were a matmul."""
    a = Architecture(vocab_size=32000, d_model=512, n_layers=3, n_heads=8, unembedding="tied",
                     norm="rmsnorm", final_norm=False, block_norms=0, mlp="gated", positions="rotary")
    D, S = 4 * 1024, 1024
    assert estimates(a, D, S)["palm"].value == training(a, D, S, FULL)["total"]
    untied = a.replace(unembedding="untied")
    table = 6 * D * a.d_model * a.vocab_size
    assert estimates(untied, D, S)["palm"].value == training(untied, D, S, FULL)["total"] + table


def test_kaplan_forward_per_token_is_exact_causal_average_up_to_the_diagonal():
    """Kaplan et al. Table 1: C_forward ≈ 2N + 2·n_layer·n_ctx·d_attn. Our causal count averages
    (n_ctx + 1)/2 keys per query, so over n_ctx tokens it is 2N·n_ctx + 2·n_layer·(n_ctx + 1)·n_ctx·d_attn."""
    a = Architecture(vocab_size=1000, d_model=256, n_layers=2, n_heads=4, unembedding="none",
                     final_norm=False, block_norms=0, positions="rotary")
    S = 512
    n = 12 * a.n_layers * a.d_model**2
    assert forward(a, 1, S, CAUSAL).total == 2 * n * S + 2 * a.n_layers * (S + 1) * S * a.d_model
