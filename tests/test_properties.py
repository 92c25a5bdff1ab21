"""Invariants that hold for every valid architecture (hypothesis), by construction of the tree."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attncalc import Architecture, count_params, param_summary
from attncalc.core.evaluate import forward
from attncalc.core.workload import Convention, attention_pairs


@st.composite
def architectures(draw) -> Architecture:
    kv = draw(st.integers(1, 4))
    group = draw(st.integers(1, 4))
    d_head = draw(st.integers(1, 48))
    n_experts = draw(st.integers(1, 4))
    return Architecture(
        vocab_size=draw(st.integers(1, 5000)),
        d_model=draw(st.integers(1, 256)),
        n_layers=draw(st.integers(1, 6)),
        n_heads=kv * group,
        n_kv_heads=kv,
        d_head=d_head,
        d_ff=draw(st.integers(1, 512)),
        mlp=draw(st.sampled_from(["standard", "gated"])),
        qkv_bias=draw(st.booleans()), out_bias=draw(st.booleans()), mlp_bias=draw(st.booleans()),
        lm_head_bias=draw(st.booleans()),
        norm=draw(st.sampled_from(["layernorm", "rmsnorm"])), norm_bias=draw(st.booleans()),
        positions=draw(st.sampled_from(["learned", "rotary", "alibi", "relative", "none"])),
        n_ctx=draw(st.integers(1, 4096)),
        unembedding=draw(st.sampled_from(["untied", "tied", "none"])),
        n_experts=n_experts, top_k=draw(st.integers(1, n_experts)),
        parallel_block=draw(st.booleans()), embedding_norm=draw(st.booleans()),
        final_norm=draw(st.booleans()), token_types=draw(st.integers(0, 3)), pooler=draw(st.booleans()),
    )


def independent_total(a: Architecture) -> int:
    """The textbook sum, written without the tree: per block attention + MLP + norms, then the rest."""
    d, dh, f = a.d_model, a.head_dim, a.ff_dim
    attn = (a.n_heads + a.kv_heads) * 2 * d * dh  # Q, O per query head; K, V per kv head
    attn += ((a.n_heads + 2 * a.kv_heads) * dh if a.qkv_bias else 0) + (d if a.out_bias else 0)
    mats = 3 if a.mlp == "gated" else 2
    expert = mats * d * f + ((mats - 1) * f + d if a.mlp_bias else 0)
    mlp = a.n_experts * expert + (a.n_experts * d if a.n_experts > 1 else 0)
    norm = d * (2 if a.norm == "layernorm" and a.norm_bias else 1)
    rel = 3 * a.n_heads * dh + a.n_heads * dh * (d - 1) if a.positions == "relative" else 0  # W_R, u, v
    block = attn + rel + mlp + a.norms_per_block * norm
    emb = a.vocab_size * d + a.position_rows * d + a.token_types * d + (norm if a.embedding_norm else 0)
    unemb = {"untied": a.vocab_size * d, "tied": 0, "none": 0}[a.unembedding]
    unemb += a.vocab_size if (a.lm_head_bias and a.unembedding != "none") else 0
    return emb + a.n_layers * block + (norm if a.final_norm else 0) + unemb + (d * d + d if a.pooler else 0)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(architectures())
def test_tree_invariants(a: Architecture):
    tree = count_params(a)
    s = param_summary(a, tree)
    att = s["attention"]
    # heads x per-head (+ biases) = attention per block; for MHA per-head is the seed's 4 matrices
    if a.kv_heads == a.n_heads:
        extra = att["biases_per_block"] + att["relative_positions_per_block"]
        assert a.n_heads * att["per_head"] + extra == att["per_block"]
    q, k, vd, vu = (att["per_matrix"][m] for m in ("query", "key", "value_down", "value_up"))
    assert a.n_heads * (q + vu) + a.kv_heads * (k + vd) == att["heads_per_block"]
    # blocks x per-block + the rest = total
    assert att["heads_per_block"] + att["biases_per_block"] + att["relative_positions_per_block"] == att["per_block"]
    rest = s["embedding"] + s["norms"]["final"] + s["unembedding"] + s["pooler"]
    assert a.n_layers * s["per_block"] + rest == s["total"]
    assert s["total"] == independent_total(a)
    assert s["conventions"]["active"] <= s["total"]
    assert s["conventions"]["non_embedding"] <= s["total"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(architectures(), st.integers(1, 3), st.integers(1, 300))
def test_forward_matmul_flops_are_two_per_weight_per_token_plus_attention(a, batch, seq):
    """2 x tokens x (every weight matrix a token passes through) + 4 x d_head x heads x pairs."""
    tree = count_params(a)
    s = param_summary(a, tree)
    tokens = batch * seq
    conv = Convention(attention="causal")
    mats = (3 if a.mlp == "gated" else 2) * a.d_model * a.ff_dim
    routed = a.top_k * mats + (a.n_experts * a.d_model if a.n_experts > 1 else 0)
    per_block_matrices = s["attention"]["heads_per_block"] + routed
    logits = a.vocab_size * a.d_model if a.unembedding != "none" else 0
    pooler = 2 * batch * a.d_model * a.d_model if a.pooler else 0
    pairs = batch * attention_pairs(seq, True)
    rel = 2 * seq * a.d_model * a.n_heads * a.head_dim + 2 * a.n_heads * pairs * a.head_dim
    expected = (2 * tokens * (a.n_layers * per_block_matrices + logits) + pooler
                + a.n_layers * 4 * a.head_dim * a.n_heads * pairs + (a.n_layers * rel if a.positions == "relative" else 0))
    assert forward(a, batch, seq, conv).total == expected


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(architectures())
def test_json_csv_and_table_agree(a):
    import io

    from rich.console import Console

    from attncalc.core.report import build
    from attncalc.present.document import count_document, flatten, to_csv, to_json
    from attncalc.present.sections import header_lines, param_sections
    from attncalc.present.terminal import sections_renderable

    report = build(a)
    doc = json.loads(to_json(count_document(report)))
    csv_rows = dict(line.split(",", 1) for line in to_csv(doc).splitlines()[1:])
    for key, value in flatten(doc["params"], "params"):
        assert csv_rows[key] == str(value)
    console = Console(file=io.StringIO(), width=200, no_color=True)
    console.print(sections_renderable(header_lines(a), param_sections(a, report.params)))
    table = console.file.getvalue()
    for key in ("total", "per_block"):
        assert f"{doc['params'][key]:,}" in table
    for m in ("query", "key", "value_down", "value_up"):
        assert f"{doc['params']['attention']['per_matrix'][m]:,}" in table
    for name, value in doc["params"]["conventions"].items():
        if name != "active" or a.n_experts > 1:
            assert f"{value:,}" in table
