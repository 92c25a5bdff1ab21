"""A model, described once: the embedding, an ordered stack of block kinds (each with its count),
the final norm, the unembedding and the pooler.

A block is attention + MLP + its norms + two residual adds (pre-norm: Radford et al. 2019; a
parallel block, GPT-J / GPT-NeoX / Falcon, reads one norm's output into both). Today's models are
one block kind x n_layers; a stack of several kinds (dense and MoE layers, full and sliding-window
layers, encoder and decoder) is the same structure with more entries in ``blocks``.
"""

from __future__ import annotations

from functools import lru_cache

from ...spec.arch import Architecture
from ..workload import Pattern
from .attention import attention
from .base import Op, Part, part
from .ends import embedding, final_norm, norm_of, pooler, unembedding
from .mlp import mlp


def block(a: Architecture, count: int) -> Part:
    return part(
        "block", "block",
        attention(a),
        mlp(a),
        part("norms", "norms", norm_of(a, "norm", "norm"), count=a.norms_per_block),
        Op("residual", "residual adds", "tokens", 2 * a.d_model, "residual"),
        count=count, pattern=Pattern(a.sliding_window),
    )


@lru_cache(maxsize=64)
def describe(a: Architecture) -> Part:
    """The whole model; ``blocks`` holds one Part per block kind, in order, each with its count."""
    return part(
        "model", a.name,
        embedding(a),
        part("blocks", "blocks", block(a, a.n_layers)),
        final_norm(a),
        unembedding(a),
        pooler(a),
    )


def block_kinds(model: Part) -> tuple[Part, ...]:
    return next(c for c in model.children if c.name == "blocks").children
