"""DeepSeek Sparse Attention's lightning indexer (DeepSeek-V3.2), described once.

References:
- DeepSeek-AI 2025, "DeepSeek-V3.2-Exp: Boosting Long-Context Efficiency with DeepSeek Sparse
  Attention", sec. 2.1: a lightning indexer scores every (query, key) pair with a few heads,
  I_{t,s} = sum_j w_{t,j} ReLU(q_{t,j} . k_s) (eq. 1), and the main attention of each query runs
  only over the top-k keys by that score (eq. 2); the indexer's cost stays O(L^2) but with few heads
  and FP8, the main attention's becomes O(L k).
- The reference implementation: DeepSeek's inference code (``inference/model.py``, class
  ``Indexer``: ``wq_b`` from the query latent, ``wk`` and ``weights_proj`` from the hidden state,
  a LayerNorm ``k_norm`` with weight and bias, plain ``Linear`` layers, i.e. replicated on every
  model-parallel rank; the indexer keys are cached per token) and transformers'
  ``modeling_deepseek_v32.py`` (``DeepseekV32Indexer``, run under ``torch.no_grad``; its keys live
  in the ``DynamicIndexedLayer`` cache beside MLA's latent: index_head_dim numbers per token and
  layer, tests/golden/WAVE_NOTES.md 2.26).

Counted as the reference implementation runs it (and as FlopCounterMode counts it): the three
projections per token (``wq_b``: index_heads x index_head_dim from q_lora_rank; ``wk``:
index_head_dim from d_model; ``weights_proj``: index_heads from d_model), then per (query, key)
pair of the block's mask ``index_heads x index_head_dim`` multiply-accumulates for the scores and
``index_heads`` for the head-weighted sum (two matmuls in transformers: ``q @ k^T`` and
``weights @ scores``); ReLU per pair and head under ``--ops all``; the top-k selection is comparisons
(no FLOPs). The indexer reads every key its mask allows whatever the convention: sparsity is the main
attention's (``Convention.sparse``, ``selected_pairs``).

Training: the language-model loss sends no gradient through the indexer (``trained=False``);
transformers runs it under ``torch.no_grad`` and keeps nothing for a backward pass. DeepSeek trains
it apart against the main attention's distribution with a KL loss on a detached input (the report,
sec. 2.1.1); that separate step is not counted.
"""

from __future__ import annotations

from ...spec.arch import Architecture
from .base import Op, Part, Weight, norm, part


def indexer(a: Architecture) -> Part | None:
    if not a.index_heads:
        return None
    h, dh, d = a.index_heads, a.index_head_dim, a.d_model
    return part(
        "indexer", "lightning indexer",
        Weight("query", "indexer query (wq_b)", h * dh, a.q_lora_rank, "index_heads × index_head_dim × q_lora_rank",
               split="none", module="indexer_q"),
        Weight("key", "indexer key (wk), cached", dh, d, "index_head_dim × d_model", cached=True, split="none",
               module="indexer_k"),
        norm("key_norm", "indexer key norm (LayerNorm)", 2 * dh, dh, "layernorm", "index_head_dim (scale, bias)"),
        Weight("head_weights", "head weights (weights_proj)", h, d, "index_heads × d_model", split="none",
               module="indexer_weights"),
        Op("index_scores", "indexer scores q·k, every key the mask allows", "pairs", dh, kind="product", heads=h),
        Op("index_relu", "ReLU of the indexer scores", "pairs", h, "relu"),
        Op("index_weighting", "head-weighted sum of the scores", "pairs", h, kind="product"),
        trained=False,
    )
