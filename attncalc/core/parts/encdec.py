"""An encoder-decoder model (T5), described once: the shared embedding, an encoder stack and a
decoder stack (two block kinds, encoder first), cross-attention, the relative-position buckets,
both final norms and the tied unembedding.

References:
- Vaswani et al. 2017, sec. 3.2.3: "encoder-decoder attention": queries from the decoder, keys and
  values from the encoder's output. So the cross-attention's K and V projections run over the
  encoder's tokens, once per sequence, and a decoder keeps them for every later step
  (transformers' EncoderDecoderCache: its cross_attention_cache is filled once).
- Raffel et al. 2020 (T5, JMLR 21), sec. 2.1 and 3.1: encoder and decoder of the same shape, layer
  norms with a scale only (rmsnorm here) and no biases, relative-position buckets "shared across
  layers": one Embedding(relative_attention_num_buckets, n_heads) in the first layer of each stack,
  whose bias is added to every self-attention score of that stack (no FLOPs beyond a lookup and that
  add); T5 does not scale the scores by 1/sqrt(d_kv). MLP: ReLU (``feed_forward_proj: relu``) or
  gated GELU (T5 v1.1, ``gated-gelu``); d_kv per head independent of d_model.
- ``modeling_t5.py`` (T5ForConditionalGeneration): encoder and decoder read the one ``shared``
  embedding; the LM head is tied to it, and then the decoder output is multiplied by
  d_model^-1/2 before the logits (no parameters).
"""

from __future__ import annotations

from dataclasses import replace

from ...spec.arch import Architecture
from ..workload import Pattern
from .attention import attention, heads, scores_kept
from .base import Act, Op, Part, Weight, part
from .ends import block_norms, embedding, norm_cost, norm_of, unembedding
from .mlp import mlp


def self_attention(a: Architecture) -> Part:
    """The usual attention; with position buckets, their bias is added to every score (one per pair per head)."""
    att = attention(a)
    if a.positions != "buckets":
        return att
    return replace(att, children=att.children + (
        Op("position_bias", "add position-bucket bias", "pairs", a.n_heads, "bias"),))


def cross_attention(a: Architecture) -> Part:
    d, dh = a.d_model, a.head_dim
    q = Weight("query", "query (W_Q)", dh, d, "d_head × d_model", module="q")
    k = Weight("key", "key (W_K)", dh, d, "d_head × d_model", over="encoder_tokens",
               cached=True, module="k")
    vd = Weight("value_down", "value-down (W_V)", dh, d, "d_head × d_model",
                over="encoder_tokens", cached=True, module="v")
    vu = Weight("value_up", "value-up (W_O slice)", d, dh, "d_model × d_head", split="row", module="o")
    core = (Op("scores", "scores (q·k) over the encoder's tokens", "cross_pairs", dh, kind="attention"),
            Op("weighted_values", "weighted sum of the encoder's values", "cross_pairs", dh, kind="attention"),
            Op("softmax", "softmax", "cross_pairs", 1, "softmax"))
    # kept for the backward pass: as self-attention's, with keys and values over the encoder's
    # tokens and scores decoder tokens x encoder tokens
    kept_q = (Act("cross_query", "2sb·a·d_head (cross Q)", "tokens", dh),
              *(replace(t, name="cross_" + t.name) for t in scores_kept("cross_scores")),
              Act("cross_out_proj_input", "2sb·a·d_head (input of the cross output projection)", "tokens", dh))
    kept_kv = (Act("cross_key", "2s_enc·b·n_kv·d_head (cross K)", "encoder_tokens", dh),
               Act("cross_value", "2s_enc·b·n_kv·d_head (cross V)", "encoder_tokens", dh))
    return part("cross_attention", "cross-attention",
                Act("cross_query_input", "2sbh (norm output, input of the cross query projection)", "tokens", d, "outer"),
                heads(a, [q, vu, *core, *kept_q], [k, vd, *kept_kv]))


def relative_tables(a: Architecture) -> list[Weight]:
    if a.positions != "buckets":
        return []
    return [Weight(f"{stack}_relative", f"{stack} relative-position buckets", a.buckets, a.n_heads,
                   "buckets × n_heads", "position", over=None, split="none") for stack in ("encoder", "decoder")]


def encoder_decoder(a: Architecture) -> Part:
    d = a.d_model
    emb = embedding(a)
    emb = replace(emb, children=emb.children + tuple(relative_tables(a)))
    encoder = part("encoder", "encoder block",
                   self_attention(a), mlp(a, False),
                   block_norms(a, a.norms_per_block),
                   Op("residual", "residual adds", "tokens", 2 * d, "residual"),
                   count=a.encoder_layers, pattern=Pattern(encoder=True))
    decoder = part("decoder", "decoder block",
                   self_attention(a), cross_attention(a), mlp(a, False),
                   block_norms(a, a.norms_per_block + 1),
                   Op("residual", "residual adds", "tokens", 3 * d, "residual"),
                   count=a.n_layers, pattern=Pattern())
    finals = None
    if a.final_norm:
        enc_norm = Weight("encoder", "encoder final norm", a.norm_params, 1, "d_model (scale)", "norm", over=None,
                          work=Op("encoder", "encoder final norm", "encoder_tokens", d, norm_cost(a)), split="none",
                          saves=(Act("encoder_final_norm_input", "2s_enc·bh (encoder final norm input)", "encoder_tokens",
                                     d, "outer"),))
        finals = part("final_norm", "final norms", enc_norm, norm_of(a, "decoder", "decoder final norm",
                                                            (Act("final_norm_input", "2sbh (final norm input)", "tokens", d, "outer"),)))
    head = unembedding(a)
    if head is not None and a.unembedding == "tied":  # modeling_t5.py: scale_decoder_outputs
        head = replace(head, children=(Op("scale", "decoder output × d_model^-1/2", "tokens", d, "scale"),)
                       + head.children)
    return part("model", a.name, emb, part("blocks", "blocks", encoder, decoder), finals, head)
