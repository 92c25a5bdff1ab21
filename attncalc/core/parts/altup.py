"""Gemma 3n's residual-stream parts, described once: per-layer embeddings (PLE), AltUp and LAuReL.

References:
- Google DeepMind 2025, Gemma 3n model card ("Per-Layer Embeddings", "MatFormer", "AltUp", "LAuReL")
  and transformers' ``modeling_gemma3n.py`` (Gemma3nTextModel, Gemma3nTextDecoderLayer,
  Gemma3nTextAltUp, Gemma3nTextLaurelBlock), which every shape and FLOP here follows; the spec is
  tests/golden/WAVE_NOTES.md 2.28.
- AltUp: Baykal et al. 2023, "Alternating Updates for Efficient Transformers" (NeurIPS), sec. 3:
  the residual state is carried as n = altup_inputs streams of d_model; each layer runs on one
  (the active) stream; a trainable map predicts every stream from all of them before the layer and
  corrects them from the layer's output after it. In transformers per layer: ``modality_router``
  (n x d_model, after ``router_norm`` and a tanh) is applied twice (predict and correct), the
  prediction coefficients (n^2 x n) map its output to an n x n mix applied to the streams (a matmul
  of d_model x n by n x n per token, ``torch.matmul``: 2 d_model n^2 FLOPs, counted by
  FlopCounterMode as bmm), the correction coefficients (n x n) give one scale per stream (applied
  element-wise), and ``correct_output_scale`` (d_model) scales the active stream's output. Before the
  first layer the n - 1 extra streams are projections of the embedding (``altup_projections``, n - 1
  matrices d_model x d_model), after the last they are projected back (``altup_unembed_projections``)
  and the n streams averaged.
- LAuReL: Menghani et al. 2024, "LAuReL: Learned Augmented Residual Layer", sec. 2 (the low-rank
  version): x + W_right W_left x with rank r = laurel_rank, then an RMSNorm (``post_laurel_norm``);
  its output is added to the attention's and the sum scaled by 1/sqrt(2).
- Per-layer embeddings: a second embedding table of per_layer_vocab rows and n_layers x
  per_layer_dim columns (``embed_tokens_per_layer``: each layer reads its own per_layer_dim slice of
  the token's row) plus a projection of the token embedding to the same n_layers x per_layer_dim
  (``per_layer_model_projection``, then ``per_layer_projection_norm`` over per_layer_dim); in each
  layer the active stream's output goes through ``per_layer_input_gate`` (per_layer_dim x d_model),
  the activation, a product with the layer's slice, ``per_layer_projection`` (d_model x
  per_layer_dim) and ``post_per_layer_input_norm`` (d_model), and is added to the other n - 1 streams.
  The table is a vocabulary table (a lookup, no FLOPs; Kaplan's non-embedding count leaves it out),
  kept with the token embedding on the first pipeline stage.

Element-wise work (``--ops all``), per token and layer: AltUp's prediction residual add (n d_model),
innovation (d_model), correction product and add (2 n d_model), the two tanh (2n); LAuReL's two
residual adds and scale (3 d_model); PLE's activation and product (per_layer_dim each) and the add
into n - 1 streams. Gemma 3n's Gaussian top-k activation sparsity on its first layers
(``activation_sparsity_pattern``: a mean, a standard deviation and a ReLU over d_ff) changes neither
parameters nor matmuls and is not counted.

Tensors kept for the backward pass (Korthikanti et al. 2022's rule, every op keeps its inputs): the
n streams and the innovation (n d_model each), the two normed router inputs (d_model each), LAuReL's
input, low-rank output and norm input, PLE's gate input, activation input, product inputs, projection
input and norm input; none of them is split by tensor parallelism (the d_model-wide tensors are
"outer", like a norm's input).
"""

from __future__ import annotations

from dataclasses import replace

from ...spec.arch import Architecture
from .base import Act, Op, Part, Weight, norm, part


def _rmsnorm(name: str, label: str, width: int, shared: bool = False) -> Weight:
    """An RMSNorm (scale only) over d_model; ``shared``: a second application of the same weights."""
    return replace(norm(name, label, width, width, "rmsnorm", "d_model (scale)"), shared=shared)


def altup(a: Architecture) -> Part | None:
    """One layer's AltUp predict and correct steps (n = altup_inputs streams)."""
    n, d = a.altup_inputs, a.d_model
    if n <= 1:
        return None
    router = dict(rows=n, cols=d, formula="altup_inputs × d_model", split="none", module="altup_router")
    return part(
        "altup", "AltUp (predict, correct)",
        Act("altup_streams", "2sb·n·h (the streams, input of the prediction product)", "tokens", n * d, "outer"),
        Act("altup_router_inputs", "2sb·2h (normed router inputs, predict and correct)", "tokens", 2 * d, "outer"),
        Act("altup_innovation", "2sb·n·h (innovation, input of the correction product)", "tokens", n * d, "outer"),
        _rmsnorm("router_norm", "router norm (predict)", d),
        _rmsnorm("router_norm_correct", "router norm (correct)", d, shared=True),
        Weight("modality_router", "modality router (predict)", **router),
        Weight("modality_router_correct", "modality router (correct, the same matrix)", **router, shared=True),
        Op("router_tanh", "tanh of the modalities, predict and correct", "tokens", 2 * n, "tanh"),
        Weight("prediction_coefs", "prediction coefficients", n * n, n, "altup_inputs² × altup_inputs", split="none",
               module="altup_prediction"),
        Op("predict", "prediction: streams × coefficients (d_model × n by n × n)", "tokens", d * n * n, kind="product"),
        Op("predict_residual", "prediction + streams", "tokens", n * d, "residual"),
        Weight("correction_coefs", "correction coefficients", n, n, "altup_inputs × altup_inputs", split="none",
               module="altup_correction"),
        Op("innovation", "innovation = output − active prediction", "tokens", d, "residual"),
        Op("correct", "correction: streams + coefficient × innovation", "tokens", n * d, "multiply_add"),
        Weight("correct_output_scale", "corrected output scale", d, 1, "d_model", "norm", over=None,
               work=Op("output_scale", "scale the active stream's output", "tokens", d, "multiply"), split="none"),
    )


def laurel(a: Architecture) -> Part | None:
    """One layer's learned augmented residual: x + norm(W_right W_left x), rank laurel_rank."""
    r, d = a.laurel_rank, a.d_model
    if not r:
        return None
    return part(
        "laurel", "LAuReL (low-rank residual)",
        Act("laurel_input", "2sbh (normed input, input of W_left)", "tokens", d, "outer"),
        Act("laurel_hidden", "2sb·r (input of W_right)", "tokens", r, "outer"),
        Act("laurel_norm_input", "2sbh (input of the LAuReL norm)", "tokens", d, "outer"),
        Weight("left", "LAuReL left (W_left)", r, d, "laurel_rank × d_model", split="none", module="laurel_left"),
        Weight("right", "LAuReL right (W_right)", d, r, "d_model × laurel_rank", split="none", module="laurel_right"),
        _rmsnorm("norm", "LAuReL norm", d),
        Op("residual", "x + LAuReL, + attention, × 1/√2", "tokens", 3 * d, "residual"),
    )


def per_layer_input(a: Architecture) -> Part | None:
    """One layer's use of its per-layer embedding slice (PLE)."""
    p, d = a.per_layer_dim, a.d_model
    if not p:
        return None
    return part(
        "per_layer_input", "per-layer input (PLE)",
        Act("ple_gate_input", "2sbh (corrected output, input of the gate)", "tokens", d, "outer"),
        Act("ple_activation_input", "2sb·p (input of the activation)", "tokens", p, "outer"),
        Act("ple_product_inputs", "2sb·2p (activation output and the layer's slice)", "tokens", 2 * p, "outer"),
        Act("ple_projection_input", "2sb·p (input of the projection)", "tokens", p, "outer"),
        Act("ple_norm_input", "2sbh (input of the norm)", "tokens", d, "outer"),
        Weight("gate", "per-layer input gate", p, d, "per_layer_dim × d_model", split="none", module="ple_gate"),
        Op("activation", a.activation, "tokens", p, a.activation),
        Op("product", "× the layer's per-layer embedding", "tokens", p, "gate"),
        Weight("projection", "per-layer projection", d, p, "d_model × per_layer_dim", split="none",
               module="ple_projection"),
        _rmsnorm("norm", "per-layer input norm", d),
        Op("add", "added to the other streams", "tokens", max(a.altup_inputs - 1, 1) * d, "residual"),
    )


def layer_parts(a: Architecture) -> list[Part]:
    """What a Gemma 3n layer adds to attention, MLP and norms (none for other models)."""
    return [x for x in (altup(a), laurel(a), per_layer_input(a)) if x is not None]


def input_parts(a: Architecture) -> list[Weight | Part]:
    """Before the first layer, beside the token embedding: the per-layer embedding table and the
    projection of the token embedding to every layer's slice; the extra AltUp streams."""
    d, p, n, L = a.d_model, a.per_layer_dim, a.altup_inputs, a.n_layers
    out: list[Weight | Part] = []
    if p:
        rows = a.per_layer_vocab or a.vocab_size
        out += [
            Weight("per_layer", "per-layer embeddings (PLE table)", rows, L * p, "per_layer_vocab × n_layers per_layer_dim",
                   "embedding", over=None, split="vocab"),
            Weight("per_layer_projection", "per-layer projection of the embedding", L * p, d,
                   "n_layers per_layer_dim × d_model", split="none",
                   saves=(Act("ple_model_projection_input", "2sbh (embedding, input of the projection)", "tokens", d,
                              "outer"),)),
            Weight("per_layer_norm", "per-layer projection norm", p, 1, "per_layer_dim", "norm", over=None,
                   work=Op("per_layer_norm", "per-layer projection norm", "tokens", L * p, "rmsnorm"), split="none"),
            Op("per_layer_combine", "projection + table, × 1/√2", "tokens", 2 * L * p, "residual"),
        ]
    if n > 1:
        out.append(part("altup_in", "AltUp stream projections",
                        Weight("projection", "stream projection", d, d, "d_model × d_model", split="none"),
                        Op("rescale", "rescale to the embedding's magnitude", "tokens", 3 * d, "multiply"),
                        count=n - 1))
    return out


def output_part(a: Architecture) -> Part | None:
    """After the last layer: the n - 1 extra streams projected back, and the n streams averaged."""
    n, d = a.altup_inputs, a.d_model
    if n <= 1:
        return None
    return part("altup_out", "AltUp stream unprojections",
                Act("altup_out_streams", "2sb·n·h (the streams, inputs of the unprojections and the mean)", "tokens",
                    n * d, "outer"),
                part("unprojection", "stream unprojection",
                     Weight("projection", "stream unprojection", d, d, "d_model × d_model", split="none"),
                     Op("rescale", "rescale to the active stream's magnitude", "tokens", 3 * d, "multiply"),
                     count=n - 1),
                Op("mean", "mean of the streams", "tokens", n * d, "residual"))
