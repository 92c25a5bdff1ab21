"""Architecture: the hyper-parameters of one transformer, validated, with derived dimensions.

Names follow the papers (Vaswani et al. 2017; GPT-3 Table 2.1; Kaplan et al. 2020):
``d_model``, ``n_layers``, ``n_heads``, ``n_kv_heads``, ``d_head``, ``d_ff``, ``vocab_size``,
``n_ctx``. Every field has a default here, so a preset or a user's TOML names only what differs.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
from fractions import Fraction
from dataclasses import dataclass, field, fields
from typing import Any, Mapping

from ..errors import ConfigError
from ..errors import shown
from ..escape import hidden

CHOICES: dict[str, tuple[str, ...]] = {
    "mlp": ("standard", "gated"),  # gated = GLU family (SwiGLU, GeGLU): gate, up and down matrices
    # relu2 = ReLU squared (Primer: So et al. 2021; Arcee AFM); xielu = xIELU, with two learned
    # scalars per MLP (Huang et al. 2025; Apertus)
    "activation": ("gelu", "relu", "silu", "relu2", "xielu"),
    "norm": ("layernorm", "rmsnorm"),
    "positions": ("learned", "rotary", "alibi", "relative", "buckets", "none"),
    "unembedding": ("untied", "tied", "none"),  # none: an encoder without an LM head (BertModel)
    "qk_norm": ("none", "head", "full"),  # norms on queries and keys: per head (Qwen3, Gemma 3) or full width (OLMo-2)
    # --- dense (issue 20) ---
    "router_correction": ("none", "buffer", "parameter"),
}

# Per-layer mixer codes of ``mixer_pattern`` and the mixer each names (core.parts.model.MIXERS
# builds each; a code whose mixer is not built there is refused by validate).
MIXER_CODES: dict[str, str] = {
    "A": "attention",  # the model's attention (plain, grouped-query or latent)
    "M": "mamba",  # a Mamba (v1) mixer, as Jamba's
    "-": "none",  # no mixer: a block of only a feed-forward (Nemotron-H's MLP and MoE blocks)
}
FFN_CODES: dict[str, str] = {"D": "dense", "E": "moe", "-": "none"}

# Human descriptions, used by `attncalc init` and the docs.
DOC: dict[str, str] = {
    "name": "preset name (the file name for presets)",
    "family": "model family, for `attncalc list`",
    "source": "where the numbers come from: a paper table or the model's published config",
    "notes": "caveats, e.g. a known misprint in the source table",
    "vocab_size": "rows of the token embedding",
    "d_model": "width of the residual stream (embedding dimension)",
    "n_layers": "number of transformer blocks",
    "n_heads": "query heads per attention block",
    "n_kv_heads": "key/value heads (= n_heads: multi-head; 1: multi-query; else grouped-query)",
    "d_head": "query/key/value dimension of one head (default d_model / n_heads)",
    "d_ff": "hidden width of the MLP (default 4 * d_model)",
    "mlp": "standard (up, down) or gated (gate, up, down: SwiGLU / GeGLU)",
    "activation": "MLP non-linearity: gelu, relu, silu, relu2 (ReLU squared) or xielu (xIELU: two learned scalars per MLP)",
    "qkv_bias": "biases on the query, key and value projections",
    "out_bias": "bias on the attention output projection",
    "mlp_bias": "biases on the MLP matrices",
    "lm_head_bias": "bias on the unembedding (logits)",
    "norm": "layernorm or rmsnorm",
    "norm_bias": "LayerNorm has a bias (ignored for rmsnorm)",
    "block_norms": "norms per block (default 2, or 1 for a parallel block)",
    "final_norm": "a norm after the last block",
    "embedding_norm": "a norm right after the embeddings (BERT)",
    "positions": "learned (a table of n_positions rows), rotary, alibi, relative (Transformer-XL), buckets (T5's relative-position buckets) or none",
    "n_ctx": "context length the model was trained for",
    "n_positions": "rows of the learned position table (default n_ctx)",
    "unembedding": "untied (own matrix), tied (shares the token embedding) or none",
    "n_experts": "MLP experts per block (1 = dense)",
    "top_k": "experts routed per token",
    "parallel_block": "attention and MLP read the same input (GPT-J, Falcon, GPT-NeoX)",
    "causal": "decoder (each token sees the ones before it) or encoder (false: full attention)",
    "sliding_window": "attention window in tokens (Mistral), or unset for full context",
    "token_types": "rows of the token-type (segment) embedding (BERT: 2)",
    "pooler": "a pooler dense layer on the first token (BERT)",
    "sliding_window_pattern": "every k-th layer (k, 2k, ...) attends to everything, the others locally (Gemma 2/3, gpt-oss, Llama 4)",
    "attention_chunk": "local layers attend within chunks of this many tokens (Llama 4), instead of a sliding window",
    "first_dense_layers": "layers before the first mixture-of-experts layer that keep a dense MLP (DeepSeek)",
    "moe_every": "a layer i >= first_dense_layers is a mixture-of-experts layer when i % moe_every == moe_offset",
    "moe_offset": "see moe_every",
    "d_ff_expert": "hidden width of one routed expert (default d_ff; d_ff is then the dense layers' width)",
    "n_shared_experts": "experts every token runs besides the routed ones (DeepSeek, Qwen2-MoE, Llama 4)",
    "d_ff_shared": "hidden width of one shared expert (default d_ff_expert)",
    "shared_expert_gate": "a sigmoid gate (d_model -> 1) on the shared expert's output (Qwen2-MoE)",
    "router_bias": "the router has a bias (gpt-oss)",
    "q_lora_rank": "multi-head latent attention: rank of the query compression (unset: a plain query projection)",
    "kv_lora_rank": "multi-head latent attention (DeepSeek-V2/V3): rank of the joint key/value latent the cache keeps",
    "qk_rope_head_dim": "latent attention: per-head query/key dimension carrying rotary positions (the key's is shared)",
    "v_head_dim": "latent attention: value dimension per head (default d_head)",
    "qk_norm": "norms on queries and keys: none, head (one d_head norm shared by the heads) or full (n_heads d_head wide)",
    "attention_sinks": "one learned sink logit per head (gpt-oss)",
    "mtp_layers": "multi-token prediction modules (DeepSeek-V3), counted apart: the with_mtp convention",
    "encoder_layers": "encoder-decoder (T5): blocks of the bidirectional encoder stack; n_layers is then the decoder's (0: no encoder)",
    "position_buckets": "positions = buckets (T5): relative-position buckets, one table of position_buckets x n_heads per stack (default 32)",
    "attention_every": "hybrid (Jamba): layer i is an attention layer when i % attention_every == attention_offset, the others Mamba layers (1: every layer attention)",
    "attention_offset": "see attention_every",
    "mamba_d_state": "Mamba layers: state size per channel (d_state)",
    "mamba_d_conv": "Mamba layers: width of the depthwise causal convolution (d_conv)",
    "mamba_expand": "Mamba layers: inner width d_inner = mamba_expand x d_model",
    "mamba_dt_rank": "Mamba layers: rank of the time-step projection (default ceil(d_model / 16))",
    "mamba_conv_bias": "Mamba layers: the convolution has a bias",
    "mamba_proj_bias": "Mamba layers: the input and output projections have biases",
    "mixer_pattern": "per-layer mixers, one letter per layer (overrides attention_every): " + ", ".join(f"{c} {m}" for c, m in MIXER_CODES.items()),
    "ffn_pattern": "per-layer feed-forward, one letter per layer (overrides the MoE layer rules): D dense MLP, E mixture of experts, - none",
    # --- special (issue 20) ---
    "index_heads": "DeepSeek Sparse Attention (DeepSeek-V3.2): heads of the lightning indexer that picks the keys each query attends to (0: no indexer)",
    "index_head_dim": "DeepSeek Sparse Attention: dimension of one indexer head and of the indexer key each token caches",
    "index_topk": "DeepSeek Sparse Attention: keys each query attends to, chosen by the indexer (the sparse convention)",
    "zero_experts": "zero-computation experts routed beside the n_experts real ones; a token routed to one keeps its input (LongCat-Flash)",
    "shortcut_moe": "shortcut-connected MoE (LongCat-Flash ScMoE): a MoE layer keeps its dense MLP too, its experts reading the attention output",
    "per_layer_dim": "per-layer embeddings (Gemma 3n PLE): width of each layer's slice of the per-layer embedding (0: none)",
    "per_layer_vocab": "per-layer embeddings: rows of the per-layer embedding table (default vocab_size)",
    "altup_inputs": "AltUp (Gemma 3n): streams the residual state is carried in (1: no AltUp)",
    "laurel_rank": "LAuReL (Gemma 3n): rank of the learned augmented residual (0: none)",
    "kv_shared_layers": "the last this many layers cache nothing and read the keys and values of the last earlier layer of the same reach (Gemma 3n)",
    # --- dense (issue 20) ---
    "last_dense_layers": "layers after the last mixture-of-experts layer that keep a dense MLP (ERNIE 4.5's moe_layer_end_index)",
    "no_rope_every": "every k-th layer (k-1, 2k-1, ...) applies no rotary embedding (NoPE: SmolLM3; Cohere 2 and EXAONE 4 "
                     "on their full-attention layers); no parameters or FLOPs change",
    "router_correction": "a routing score-correction bias of n_experts per MoE layer: none, buffer (in the checkpoint, "
                         "not a parameter, not counted: DeepSeek-V3, GLM-4.5, dots.llm1, MiniMax-M2) or parameter "
                         "(counted: ERNIE 4.5)",
}


@dataclass(frozen=True)
class Architecture:
    vocab_size: int
    d_model: int
    n_layers: int
    n_heads: int
    name: str = "custom"
    family: str = "custom"
    source: str = ""
    notes: str = ""
    n_kv_heads: int | None = None
    d_head: int | None = None
    d_ff: int | None = None
    mlp: str = "standard"
    activation: str = "gelu"
    qkv_bias: bool = False
    out_bias: bool = False
    mlp_bias: bool = False
    lm_head_bias: bool = False
    norm: str = "layernorm"
    norm_bias: bool = True
    block_norms: int | None = None
    final_norm: bool = True
    embedding_norm: bool = False
    positions: str = "learned"
    n_ctx: int = 2048
    n_positions: int | None = None
    unembedding: str = "untied"
    n_experts: int = 1
    top_k: int = 1
    parallel_block: bool = False
    causal: bool = True
    sliding_window: int | None = None
    token_types: int = 0
    pooler: bool = False
    sliding_window_pattern: int | None = None
    attention_chunk: int | None = None
    first_dense_layers: int = 0
    moe_every: int = 1
    moe_offset: int = 0
    d_ff_expert: int | None = None
    n_shared_experts: int = 0
    d_ff_shared: int | None = None
    shared_expert_gate: bool = False
    router_bias: bool = False
    q_lora_rank: int | None = None
    kv_lora_rank: int | None = None
    qk_rope_head_dim: int | None = None
    v_head_dim: int | None = None
    qk_norm: str = "none"
    attention_sinks: bool = False
    mtp_layers: int = 0
    encoder_layers: int = 0
    position_buckets: int | None = None
    attention_every: int = 1
    attention_offset: int = 0
    mamba_d_state: int = 16
    mamba_d_conv: int = 4
    mamba_expand: int = 2
    mamba_dt_rank: int | None = None
    mamba_conv_bias: bool = True
    mamba_proj_bias: bool = False
    # --- special (issue 20) ---
    index_heads: int = 0
    index_head_dim: int = 128
    index_topk: int = 2048
    zero_experts: int = 0
    shortcut_moe: bool = False
    per_layer_dim: int = 0
    per_layer_vocab: int | None = None
    altup_inputs: int = 1
    laurel_rank: int = 0
    kv_shared_layers: int = 0
    # --- dense (issue 20) ---
    last_dense_layers: int = 0
    no_rope_every: int | None = None
    router_correction: str = "none"
    # --- per-layer patterns (hybrids of the 2026 wave) ---
    mixer_pattern: str = ""
    ffn_pattern: str = ""
    _origin: str = field(default="", repr=False, compare=False)
    # What a config.json reader assumed (spec/hf.py): (kind, file, key, text) with kind "default" for
    # a key absent from the file, read with the reference implementation's default (text: the value),
    # or "close" for a key of the file the reader does not use that is close to one it took by
    # default (a typo? text: what to do). Kept through --set; the CLI says them on stderr.
    _read: tuple = field(default=(), repr=False, compare=False)

    def __post_init__(self) -> None:
        _validate(self)

    # Derived dimensions -------------------------------------------------------------
    @property
    def kv_heads(self) -> int:
        return self.n_heads if self.n_kv_heads is None else self.n_kv_heads

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads if self.d_head is None else self.d_head

    @property
    def ff_dim(self) -> int:
        return 4 * self.d_model if self.d_ff is None else self.d_ff

    @property
    def group_size(self) -> int:
        """Query heads sharing one key/value head (1 for multi-head attention)."""
        return self.n_heads // self.kv_heads

    @property
    def norms_per_block(self) -> int:
        if self.block_norms is not None:
            return self.block_norms
        return 1 if self.parallel_block else 2

    @property
    def position_rows(self) -> int:
        if self.positions != "learned":
            return 0
        return self.n_ctx if self.n_positions is None else self.n_positions

    @property
    def is_moe(self) -> bool:
        return self.n_experts > 1

    @property
    def expert_ff_dim(self) -> int:
        return self.ff_dim if self.d_ff_expert is None else self.d_ff_expert

    @property
    def shared_ff_dim(self) -> int:
        return self.expert_ff_dim if self.d_ff_shared is None else self.d_ff_shared

    @property
    def is_latent(self) -> bool:
        """Multi-head latent attention (DeepSeek-V2 sec. 2.1)."""
        return self.kv_lora_rank is not None

    @property
    def value_dim(self) -> int:
        return self.head_dim if self.v_head_dim is None else self.v_head_dim

    @property
    def rope_dim(self) -> int:
        return self.qk_rope_head_dim or 0

    @property
    def is_encoder_decoder(self) -> bool:
        """An encoder stack before the decoder, read by cross-attention (T5: Raffel et al. 2020)."""
        return self.encoder_layers > 0

    @property
    def buckets(self) -> int:
        """Rows of each T5 relative-position table (T5Config.relative_attention_num_buckets: 32)."""
        return 32 if self.position_buckets is None else self.position_buckets

    @property
    def has_mamba(self) -> bool:
        """Some layers have a mixer other than attention (Jamba's Mamba layers: Lieber et al. 2024; the
        hybrids of ``mixer_pattern``)."""
        return self.attention_every > 1 or any(c != "A" for c in self.mixer_pattern)

    def mixer_at(self, i: int) -> str:
        """The mixer of decoder layer i: from ``mixer_pattern`` when set, else Jamba's rule (attention
        when i % attention_every == attention_offset, Mamba otherwise)."""
        if self.mixer_pattern:
            return MIXER_CODES[self.mixer_pattern[i]]
        return "attention" if i % self.attention_every == self.attention_offset else "mamba"

    @property
    def mamba_inner(self) -> int:
        return self.mamba_expand * self.d_model

    @property
    def dt_rank(self) -> int:
        """JambaConfig / MambaConfig: mamba_dt_rank "auto" = ceil(hidden_size / 16)."""
        return -(-self.d_model // 16) if self.mamba_dt_rank is None else self.mamba_dt_rank

    @property
    def norm_params(self) -> int:
        """Parameters of one norm over d_model: a scale, plus a bias for LayerNorm with bias."""
        with_bias = self.norm == "layernorm" and self.norm_bias
        return self.d_model * (2 if with_bias else 1)

    def replace(self, **changes: Any) -> "Architecture":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The user-settable fields (not the derived ones), as a TOML-ready mapping."""
        return {f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("_")}


FIELDS: dict[str, dataclasses.Field] = {
    f.name: f for f in fields(Architecture) if not f.name.startswith("_")
}
REQUIRED = ("vocab_size", "d_model", "n_layers", "n_heads")
_INT_FIELDS = {n for n, f in FIELDS.items() if "int" in str(f.type)}
_BOOL_FIELDS = {n for n, f in FIELDS.items() if f.type == "bool"}
_STR_FIELDS = {n for n, f in FIELDS.items() if f.type == "str"}
ZERO_OK = {"token_types", "block_norms", "first_dense_layers", "moe_offset", "n_shared_experts", "mtp_layers",
           "encoder_layers", "attention_offset",
           # --- special (issue 20) ---
           "index_heads", "zero_experts", "per_layer_dim", "laurel_rank", "kv_shared_layers",
           # --- dense (issue 20) ---
           "last_dense_layers"}


def field_type_name(name: str) -> str:
    if name in _BOOL_FIELDS:
        return "boolean"
    if name in _INT_FIELDS:
        return "integer"
    return "string"


def suggest_field(name: str) -> str:
    close = difflib.get_close_matches(name, list(FIELDS), n=1) if len(name) <= 64 else []
    return f"; did you mean {close[0]!r}?" if close else f"; known fields: {', '.join(FIELDS)}"


# Input bounds (refused with the field named, never a crash or a minutes-long `show`):
MAX_INT = 2**63 - 1  # every framework stores a shape in a signed 64-bit int; products stay exact anyway
MAX_TEXT = {"name": 256, "family": 256}  # characters
MAX_LONG_TEXT = 64 * 1024  # characters of `source` or `notes` (and any other string field)
_FLOAT_EXACT = 2**53  # every integer below this is a float exactly


class FloatLiteral(float):
    """A float read from TOML/JSON that remembers how it was written (``parse_float`` hook), so an
    integer field can tell ``4096.0`` (exactly 4096) from ``1e23`` (the float 99999999999999991611392)."""

    text: str

    def __new__(cls, text: str) -> "FloatLiteral":
        obj = super().__new__(cls, text)
        obj.text = text
        return obj


def as_int(value: Any) -> int:
    """``value`` as an exact integer, or ValueError with the problem.

    Accepts an int, or a float that is exactly an integer AND was written as exactly that number:
    ``4096.0`` or ``4.096e3`` yes; ``1e23`` (stored as 99999999999999991611392), ``0.5``, ``nan`` no.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"expected an integer, got {shown(value)}")
    if isinstance(value, int):
        return value
    hint = "; write it as an integer, e.g. 4096"
    if not math.isfinite(value) or not value.is_integer():
        raise ValueError(f"expected an integer, got {shown(value)}")
    text = getattr(value, "text", None)
    if text is not None:  # the literal as written: its exact value must be this float's
        m = re.fullmatch(r"[+-]?[0-9_]*\.?[0-9_]*(?:[eE]([+-]?[0-9_]+))?", text)
        if not m or (m.group(1) and abs(int(m.group(1).replace("_", ""))) > 400) or \
                Fraction(text.replace("_", "")) != Fraction(value):
            raise ValueError(f"{text} is not exactly the float it reads as ({shown(float(value))}){hint}")
    elif abs(value) >= _FLOAT_EXACT:
        raise ValueError(f"{shown(float(value))} is past 2**53, where a float cannot hold every integer{hint}")
    return int(value)


def coerce_field(name: str, value: Any, source: str | None = None) -> Any:
    """Check one field's type (no silent conversions except exact integral floats like 4096.0)."""
    if name not in FIELDS:
        raise ConfigError(f"unknown field{suggest_field(name)}", source=source, field=name)
    optional = "None" in str(FIELDS[name].type)
    if value is None and optional:
        return None
    if name in _BOOL_FIELDS:
        if not isinstance(value, bool):
            raise ConfigError(f"expected true or false, got {shown(value)}", source=source, field=name)
        return value
    if name in _INT_FIELDS:
        try:
            return as_int(value)
        except ValueError as err:
            raise ConfigError(str(err), source=source, field=name) from None
    if not isinstance(value, str):
        raise ConfigError(f"expected a string, got {shown(value)}", source=source, field=name)
    return value


def from_mapping(data: Mapping[str, Any], source: str | None = None) -> Architecture:
    """Build a validated Architecture from a mapping (a parsed TOML table, say)."""
    values = {k: coerce_field(k, v, source) for k, v in data.items()}
    for name in REQUIRED:
        if name not in values:
            raise ConfigError("required field is missing", source=source, field=name)
    try:
        return Architecture(**values, _origin=source or "")
    except ConfigError as err:
        if err.source is None and source:
            raise ConfigError(err.problem, source=source, field=err.field) from None
        raise


def _validate(a: Architecture) -> None:
    src = a._origin or None

    def fail(fld: str, problem: str) -> None:
        raise ConfigError(problem, source=src, field=fld)

    for name in _INT_FIELDS:
        v = getattr(a, name)
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, int):
            fail(name, f"expected an integer, got {shown(v)}")
        low = 0 if name in ZERO_OK else 1
        if v < low:
            fail(name, f"must be {'>= 0' if low == 0 else 'a positive integer'}, got {shown(v)}")
        if v > MAX_INT:
            fail(name, f"{shown(v)} is too large: at most 2**63 - 1 = {MAX_INT:,}")
    for name in _BOOL_FIELDS:
        if not isinstance(getattr(a, name), bool):
            fail(name, f"expected true or false, got {shown(getattr(a, name))}")
    for name in _STR_FIELDS:
        v = getattr(a, name)
        if not isinstance(v, str):
            fail(name, f"expected a string, got {shown(v)}")
        limit = MAX_TEXT.get(name, MAX_LONG_TEXT)
        if len(v) > limit:
            fail(name, f"{len(v):,} characters is too long: at most {limit:,}")
        # Control characters (ESC starts terminal escape sequences), bidirectional overrides and
        # invisible characters (escape.hidden): none in names, only tab and newline in longer texts.
        bad = hidden(v, "" if name in MAX_TEXT else "\t\n")
        if bad:
            fail(name, f"control character {bad.group()!r} at position {bad.start()}; remove it")
    for name, allowed in CHOICES.items():
        if getattr(a, name) not in allowed:
            fail(name, f"must be one of {', '.join(allowed)}, got {shown(getattr(a, name))}")
    if a.n_heads % a.kv_heads:
        fail("n_kv_heads", f"{a.kv_heads} does not divide n_heads = {a.n_heads}")
    if a.d_head is None and a.d_model % a.n_heads:
        fail("n_heads", f"{a.n_heads} heads do not divide d_model = {a.d_model}; set d_head")
    if a.top_k > a.n_experts:
        fail("top_k", f"{a.top_k} is more than n_experts = {a.n_experts}")
    if a.block_norms is not None and a.block_norms > 4:
        fail("block_norms", f"must be 0 to 4 (Gemma 2/3 have four), got {a.block_norms}")
    if a.moe_offset >= a.moe_every:
        fail("moe_offset", f"must be less than moe_every = {a.moe_every}, got {a.moe_offset}")
    if a.sliding_window_pattern is not None and not (a.sliding_window or a.attention_chunk):
        fail("sliding_window_pattern", "needs sliding_window or attention_chunk for the local layers")
    if a.sliding_window and a.attention_chunk:
        fail("attention_chunk", "a model has either a sliding window or attention chunks, not both")
    latent = ("q_lora_rank", "qk_rope_head_dim")
    for name in latent:
        if getattr(a, name) is not None and a.kv_lora_rank is None:
            fail(name, "only applies to multi-head latent attention: set kv_lora_rank")
    if a.is_latent and a.n_kv_heads not in (None, a.n_heads):
        fail("n_kv_heads", "latent attention has no separate key/value heads; leave n_kv_heads unset")
    if a.n_shared_experts and not a.is_moe:
        fail("n_shared_experts", "shared experts need n_experts > 1")
    if a.attention_offset >= a.attention_every:
        fail("attention_offset", f"must be less than attention_every = {a.attention_every}, got {a.attention_offset}")
    if a.has_mamba and a.attention_offset >= a.n_layers:
        fail("attention_offset", f"no attention layer among {a.n_layers} layers; a pure state-space model is not modelled")
    if a.position_buckets is not None and a.positions != "buckets":
        fail("position_buckets", f"only applies to positions = buckets (T5), not {a.positions!r}")
    if a.is_encoder_decoder and not a.causal:
        fail("encoder_layers", "an encoder-decoder model's decoder is causal; leave causal = true")
    if a.is_encoder_decoder and a.has_mamba:
        fail("encoder_layers", "an encoder-decoder model with Mamba layers is not modelled")
    if a.n_positions is not None and a.positions != "learned":
        fail("n_positions", f"only applies to learned positions, not {a.positions!r}")
    # --- dense (issue 20) ---
    if a.no_rope_every is not None and a.positions != "rotary":
        fail("no_rope_every", f"only applies to rotary positions, not {a.positions!r}")
    if a.router_correction != "none" and not a.is_moe:
        fail("router_correction", "a routing correction bias needs n_experts > 1")
    if a.last_dense_layers and not a.is_moe:
        fail("last_dense_layers", "dense layers after the last MoE layer need n_experts > 1")
    _validate_patterns(a, fail)
    # --- special (issue 20) ---
    _validate_special(a, fail)


def _validate_patterns(a: Architecture, fail) -> None:
    for name, codes in (("mixer_pattern", MIXER_CODES), ("ffn_pattern", FFN_CODES)):
        text = getattr(a, name)
        if not text:
            continue
        if len(text) != a.n_layers:
            fail(name, f"{len(text)} letters for {a.n_layers} layers: give one letter per layer")
        bad = sorted({c for c in text if c not in codes})
        if bad:
            fail(name, f"unknown letter {shown(bad[0])}; one of {', '.join(codes)}")
    if a.mixer_pattern and a.attention_every > 1:
        fail("mixer_pattern", "give either mixer_pattern or attention_every, not both")
    if a.ffn_pattern and "E" in a.ffn_pattern and not a.is_moe:
        fail("ffn_pattern", "E (mixture of experts) layers need n_experts > 1")
    if a.mixer_pattern and a.is_encoder_decoder:
        fail("mixer_pattern", "an encoder-decoder model with per-layer mixers is not modelled")


def _validate_special(a: Architecture, fail) -> None:
    """DeepSeek Sparse Attention, LongCat-Flash's zero experts and shortcut MoE, Gemma 3n's
    per-layer embeddings, AltUp, LAuReL and KV-sharing layers."""
    if a.index_heads and not (a.is_latent and a.q_lora_rank):
        fail("index_heads", "the lightning indexer reads the query latent: needs latent attention with q_lora_rank")
    if a.index_heads and a.index_head_dim < a.rope_dim:
        fail("index_head_dim", f"{a.index_head_dim} is less than qk_rope_head_dim = {a.rope_dim}")
    if a.zero_experts and not a.is_moe:
        fail("zero_experts", "zero-computation experts need a mixture of experts (n_experts > 1)")
    if a.shortcut_moe and not a.is_moe:
        fail("shortcut_moe", "a shortcut-connected MoE needs n_experts > 1")
    if a.shortcut_moe and a.n_shared_experts:
        fail("shortcut_moe", "a shortcut-connected MoE with shared experts is not modelled")
    if a.per_layer_vocab is not None and not a.per_layer_dim:
        fail("per_layer_vocab", "only applies to per-layer embeddings: set per_layer_dim")
    if a.kv_shared_layers:
        if a.kv_shared_layers >= a.n_layers:
            fail("kv_shared_layers", f"{a.kv_shared_layers} of {a.n_layers} layers: at least one layer must compute its own keys and values")
        if a.is_latent or a.has_mamba or a.is_encoder_decoder:
            fail("kv_shared_layers", "KV-sharing layers are modelled for plain (grouped-query) attention decoders only")
        first, k = a.n_layers - a.kv_shared_layers, a.sliding_window_pattern
        if k and k > 1:  # a shared layer reads the last earlier layer of its own reach: both must exist
            if k - 1 >= first:
                fail("kv_shared_layers", f"no full-attention layer before layer {first} for the shared full layers to read")
