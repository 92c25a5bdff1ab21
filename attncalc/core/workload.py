"""What is being counted: the workload (batch, sequence, cache, training tokens), the counting
convention, and the ONE mask that says which keys each query sees.

Every (query, key) pair count in attncalc is a sum over :meth:`Mask.key_range`; the closed forms
in :meth:`Mask.pairs` are that sum written out (tests hold them equal to the brute-force sum, and
the Numba kernel's own njit copy of ``key_range`` equal to this one).

Masks (each a reference implementation's rule):
- causal: query i sees keys 0..i, the diagonal included (Vaswani et al. 2017, sec. 3.2.3);
- sliding window W (Beltagy et al. 2020; Mistral 7B, Jiang et al. 2023): keys i-W+1..i when causal,
  and i-W+1..i+W-1 for a bidirectional (encoder) window;
- chunked C (Llama 4's chunked attention, ``modeling_llama4.py``): causal within the chunk
  floor(i/C)*C..i;
- full: every key (the ``full`` convention counts all S x S pairs, as PyTorch's flop counter and
  PaLM Appendix B do, whatever the model's mask).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import WorkloadError, shown
from ..spec.arch import MAX_INT, Architecture

# FLOPs per element for ops="all". Comparisons (the softmax max) are not counted as FLOPs.
ELEMENTWISE = {
    "softmax": 5,  # scale by 1/sqrt(d_head), subtract the row max, exp, add to the row sum, divide
    "layernorm": 7,  # mean (add), subtract, square, variance (add), multiply by rsqrt, scale, bias
    "layernorm_nobias": 6,
    "rmsnorm": 4,  # square, add, multiply by rsqrt, scale
    "gelu": 8,  # tanh form: x^3, 2 multiply-adds, tanh, add, 2 multiplies
    "silu": 4,  # exp, add, divide, multiply
    "relu": 1,
    "gate": 1,  # the gated MLP's product of the activated gate and the up projection
    "bias": 1,
    "residual": 1,
    "tanh": 1,  # the BERT pooler's tanh
    "combine": 2,  # a mixture of experts weighting and adding an expert's output
    "scale": 1,  # one multiply: T5's decoder output times d_model^-1/2 before the tied logits
    "softplus": 3,  # log(1 + exp(x)): exp, add, log (Mamba's time step)
    "exp_scale": 2,  # exp(delta x A): multiply, exp (Mamba's discretized A, Gu & Dao 2023 eq. 4)
    "multiply": 1,
    "multiply_add": 2,  # the scan's state update h = A_bar h + B_bar x, per state element
    # --- dense (issue 20) ---
    "relu2": 2,  # ReLU, then square (transformers.activations.ReLUSquaredActivation)
    # xIELU as XIELUActivation._xielu_python runs it, both branches of its torch.where: x > 0;
    # alpha_p x x + beta x (4); (expm1(min(x, eps)) - x) alpha_n + beta x (6)
    "xielu": 11,
}


def positive(name: str, value: int, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise WorkloadError(f"{name} must be an integer >= {low}, got {shown(value)}")
    if value > MAX_INT:  # like the model's fields: a signed 64-bit int, so every product prints
        raise WorkloadError(f"{name} is too large: at most 2**63 - 1 = {MAX_INT:,}")
    return value


@dataclass(frozen=True)
class Pattern:
    """How far one block kind's attention reaches: a sliding window, a chunk, or everything."""

    window: int | None = None
    chunk: int | None = None
    encoder: bool = False  # the encoder stack of an encoder-decoder: bidirectional, over the encoder's tokens
    topk: int | None = None  # DeepSeek Sparse Attention: keys each query attends to, of those its mask allows


@dataclass(frozen=True)
class Mask:
    causal: bool
    window: int | None = None
    chunk: int | None = None

    def key_range(self, i: int, seq: int) -> tuple[int, int]:
        """Keys [lo, hi) that query ``i`` of a ``seq``-token sequence attends to."""
        if self.causal:
            lo = max(0, i - self.window + 1) if self.window else 0
            if self.chunk:
                lo = max(lo, i // self.chunk * self.chunk)
            return lo, i + 1
        if self.window:
            return max(0, i - self.window + 1), min(seq, i + self.window)
        return 0, seq

    def pairs(self, seq: int) -> int:
        """(query, key) pairs of one sequence: sum over i of len(key_range(i, seq)), in closed form."""
        s, w, c = seq, self.window, self.chunk
        if not self.causal:
            if not w or w >= s:
                return s * s
            m = s - w  # queries whose window is not cut by the end: i + w <= s
            return m * (m - 1) // 2 + m * w + (s - m) * s - m * (m + 1) // 2
        if c and w:
            raise WorkloadError("a block with both a chunk and a sliding window is not supported")
        if c:
            full, rest = divmod(s, c)
            return full * c * (c + 1) // 2 + rest * (rest + 1) // 2
        if not w or w >= s:
            return s * (s + 1) // 2
        return w * (w + 1) // 2 + (s - w) * w

    def keys_at(self, position: int) -> int:
        """Keys a new token at ``position`` (that many tokens cached before it) attends to, itself included."""
        lo, hi = self.key_range(position, position + 1)
        return hi - lo

    def kept(self, context: int) -> int:
        """Tokens a KV cache keeps for a context: a window or chunk caps it."""
        cap = self.window or self.chunk
        return min(context, cap) if (self.causal and cap) else context


def attention_pairs(seq: int, causal: bool, window: int | None = None) -> int:
    """(query, key) pairs attended in one sequence of ``seq`` tokens (exact for every length)."""
    return Mask(causal, window).pairs(seq)


def decode_pairs(context: int, causal: bool, window: int | None = None) -> int:
    """Keys one new token attends to with ``context`` tokens already cached (itself included)."""
    return Mask(causal, window).keys_at(context)


@dataclass(frozen=True)
class Convention:
    attention: str = "auto"  # auto (the model's own: causal for decoders) | causal | full
    ops: str = "matmul"  # matmul | all
    macs: bool = False
    latent: str = "naive"  # latent attention: naive (keys, values decompressed) | absorbed (over the latent)
    sparse: str = "topk"  # DeepSeek Sparse Attention: topk (top-k keys per query) | dense (every key the mask allows)

    def __post_init__(self) -> None:
        if self.latent not in ("naive", "absorbed"):
            raise WorkloadError(f"--latent must be naive or absorbed, not {self.latent!r}")
        if self.attention not in ("auto", "causal", "full"):
            raise WorkloadError(f"--attention must be auto, causal or full, not {self.attention!r}")
        if self.ops not in ("matmul", "all"):
            raise WorkloadError(f"--ops must be matmul or all, not {self.ops!r}")
        if self.sparse not in ("topk", "dense"):
            raise WorkloadError(f"--sparse must be topk or dense, not {self.sparse!r}")

    @property
    def per_mac(self) -> int:
        """FLOPs counted per multiply-accumulate: 2 (Kaplan et al. 2020 Table 1), or 1 with --macs."""
        return 1 if self.macs else 2

    def causal(self, a: Architecture) -> bool:
        return a.causal if self.attention == "auto" else self.attention == "causal"

    def mask(self, a: Architecture, pattern: Pattern | None = None) -> Mask:
        """The mask one block kind is counted with: its window or chunk apply only when causal."""
        p = pattern or Pattern()
        if not self.causal(a) or (p.encoder and self.attention == "auto"):
            return Mask(False)
        return Mask(True, p.window, p.chunk)

    def selected(self, mask: Mask, pattern: Pattern | None, length: int, decode: bool) -> int:
        """(query, key) pairs of one sequence a sparse attention attends to: each query's top-k of
        the keys its mask allows (DeepSeek-V3.2-Exp report, sec. 2.1: "attention between the query
        token and the selected key-value entries"), so min(k, keys) per query: the count a causal
        window of k gives. Dense (``--sparse dense``, and always under ``--attention full``): every
        key the mask allows, as transformers' eager path computes it before masking."""
        k = pattern.topk if pattern is not None else None
        if k is None or self.sparse == "dense" or not mask.causal:
            return mask.keys_at(length) if decode else mask.pairs(length)
        if mask.chunk:
            raise WorkloadError("a sparse (top-k) attention within chunks is not modelled")
        top = Mask(True, min(mask.window or k, k))
        return top.keys_at(length) if decode else top.pairs(length)

    def describe(self, a: Architecture) -> str:
        mask = "causal (triangle, diagonal included)" if self.causal(a) else "full (S × S)"
        if a.sliding_window and self.causal(a):
            mask += f", sliding window {a.sliding_window:,}"
        if a.is_encoder_decoder and self.causal(a):
            mask += ("; encoder full (S × S)" if self.attention == "auto" else "; encoder causal too") + \
                ", cross-attention to every encoder token"
        unit = "1 per multiply-accumulate (MACs)" if self.macs else "2 FLOPs per multiply-accumulate"
        ops = "matmuls only" if self.ops == "matmul" else "matmuls + element-wise (softmax, norms, activations, adds)"
        latent = ""
        if a.is_latent:
            latent = ("; latent attention absorbed (scores and values over the cached latent)" if self.latent == "absorbed"
                      else "; latent attention as transformers runs it (keys and values decompressed)")
        sparse = ""
        if a.index_heads:
            sparse = (f"; sparse attention over the indexer's top {a.index_topk:,} keys per query"
                      if self.sparse == "topk" and self.causal(a) else "; sparse attention counted dense (every key, as transformers' eager path)")
        return f"attention {mask}; {unit}; {ops}{latent}{sparse}"

    def as_dict(self, a: Architecture) -> dict:
        return {"attention": "causal" if self.causal(a) else "full", "sliding_window": a.sliding_window if self.causal(a) else None,
                "ops": self.ops, "unit": "mac" if self.macs else "flop", "flops_per_mac": self.per_mac,
                "backward_factor": 2, "elementwise_costs": dict(ELEMENTWISE) if self.ops == "all" else {},
                **({"latent_attention": self.latent} if a.is_latent else {}),
                **({"sparse_attention": self.sparse if self.causal(a) else "dense", "index_topk": a.index_topk}
                   if a.index_heads else {})}


@dataclass(frozen=True)
class Workload:
    batch: int = 1
    seq: int | None = None  # default: the model's n_ctx
    context: int | None = None  # decode / KV cache context; default: seq
    tokens: int | None = None  # training tokens
    recompute: bool = False
    dtype: str = "bf16"
    kv_dtype: str | None = None
    encoder_seq: int | None = None  # encoder-decoder: tokens per encoder sequence; default: seq

    def resolved(self, a: Architecture) -> "Workload":
        seq = a.n_ctx if self.seq is None else positive("--seq", self.seq)
        context = seq if self.context is None else positive("--context", self.context, 0)
        if self.tokens is not None:
            positive("--tokens", self.tokens)
        enc = seq if self.encoder_seq is None else positive("--encoder-seq", self.encoder_seq)
        return Workload(positive("--batch", self.batch), seq, context, self.tokens, self.recompute,
                        self.dtype, self.kv_dtype, enc)
