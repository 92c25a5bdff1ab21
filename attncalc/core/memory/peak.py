"""Peak memory of one training step on one GPU, as PyTorch measures it (``torch.cuda.max_memory_allocated``).

``activations`` says what a block keeps for its backward pass in Korthikanti et al.'s accounting
(16-bit tensors, all resident at once). A real step differs in two ways, and this module models both:

1. **What is kept, and in which dtype, depends on the framework.** The ``pytorch-autocast``
   convention: PyTorch with fp32 weights (the parameters ARE the master weights) under
   ``torch.autocast("cuda", dtype=torch.bfloat16)``, Hugging Face transformers' modeling code, a
   fused AdamW. Its rules (``RULES``, each with its source) turn each tensor the description
   declares (``core.parts``: ``Act``) into the tensors PyTorch keeps: the residual stream is fp32,
   every projection keeps its own bf16 cast of its input, autocast keeps a bf16 copy of every
   weight a matmul reads, the loss works on fp32 copies of the logits.
2. **Memory is a timeline, not a sum.** The step is cut into the moments where the live bytes
   peak (``PHASES``): the end of the forward pass (inside the loss), the log-softmax's backward,
   each block's backward (saved activations freed while gradients are formed), the embedding's
   backward and the optimizer step. The peak is the largest; every phase is a sum of named terms.

Every figure is a walk over the model's description, block kind by block kind (a block's backward is
evaluated at every position where the stack's pattern can put its maximum). Exact integers; every
tensor an allocation rounded up to 512 bytes as the caching allocator does.

The rules were read in the source of PyTorch 2.13 and transformers 5.24 (the versions in the
project's golden environment) and checked, tensor by tensor, against a trace of that code with
CUDA's autocast policy (``tests/golden/make_peak_trace.py``). Parts whose modeling code was not
traced (Mamba mixers, MoE experts, latent attention, cross-attention, query/key norms) keep the
tensors their parts declare, with the fp32 residual and per-projection rules applied; the result
lists them in ``approximate``.

Single GPU only (tp = pp = cp = 1, no ZeRO): the layouts ``training.per_gpu`` covers with the
Korthikanti/Megatron accounting are not modelled here.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from fractions import Fraction
from math import lcm

from ...errors import WorkloadError
from ...spec.arch import Architecture
from ..parts.base import Act, Part, Weight
from ..parts.model import block_kinds, describe, kinds_in, stack_layers
from .activations import ActivationSettings, Tensor, kind_tensors
from .layout import placed

FRAMEWORKS = ("pytorch-autocast",)
MiB = 1 << 20
BLOCK = 512  # c10/cuda/CUDACachingAllocator.cpp: kMinBlockSize, every block a multiple of 512 bytes

# The framework behaviour each term assumes, with where it is written.
RULES: dict[str, str] = {
    "weights": "fp32 parameters: training under autocast keeps the model in fp32, the parameters are the master "
               "weights (PyTorch AMP recipe: torch.autocast around the forward, no .half())",
    "adamw": "AdamW's exp_avg and exp_avg_sq, one each per parameter in its dtype (torch/optim/adamw.py, "
             "_init_group: torch.zeros_like(p, memory_format=torch.preserve_format))",
    "adamw-fused": "fused AdamW (fused=True) updates parameters and states in place in one kernel "
                   "(torch._fused_adamw_): no parameter-sized temporaries",
    "adamw-foreach": "foreach AdamW (torch/optim/adamw.py _multi_tensor_adamw): torch._foreach_sqrt(exp_avg_sqs) "
                     "makes one parameter-sized fp32 temporary for the whole group",
    "gradients": "gradients in the parameters' dtype (fp32), formed during the backward by AccumulateGrad; "
                 "zero_grad(set_to_none=True) frees them before the next forward",
    "autocast-cache": "autocast casts each fp32 weight an op of its lower-precision list reads (linear, addmm, "
                      "matmul, conv, and the biases they add) to bf16 once and caches the copy until the outermost "
                      "autocast context exits (aten/src/ATen/autocast_mode.cpp cached_cast: fp32 leaves that require "
                      "grad; torch/amp/autocast_mode.py __exit__: clear_autocast_cache); a copy the graph saves lives "
                      "until its matmul's backward has run",
    "residual-fp32": "the embedding lookup and the residual adds are on no autocast list: with fp32 weights the "
                     "residual stream is fp32 (bf16 + fp32 promotes), so a norm keeps an fp32 input",
    "rmsnorm": "transformers' RMSNorm (LlamaRMSNorm.forward: weight * (x * rsqrt(x.pow(2).mean(-1) + eps))) keeps "
               "x, the fp32 x·rsqrt (the input of weight·x̂) and the rsqrt per row",
    "layernorm": "native_layer_norm keeps its input, mean and rstd, fp32 per row (tools/autograd/derivatives.yaml); "
                 "layer_norm runs in fp32 under autocast",
    "rmsnorm-16bit": "an RMSNorm over a 16-bit tensor (query/key and latent norms) keeps its fp32 upcast, its "
                     "normalised 16-bit output and the rsqrt per row",
    "per-projection": "autocast casts an fp32 input to bf16 on every call and caches only weights: each projection "
                      "that reads a norm's fp32 output keeps its own bf16 copy (one for a fused projection)",
    "saved": "the tensors each layer keeps under these rules (PeakMemory.kinds, PeakMemory.ends), summed over the "
             "stack kind by kind",
    "repeat-kv": "eager attention expands grouped K and V to every query head (transformers' repeat_kv) before its "
                 "matmuls, which keep the expanded bf16 copies",
    "as-declared": "as the part declares it (Korthikanti et al. 2022: the op's 16-bit inputs, 1-byte masks, fp32 "
                   "statistics)",
    "flash": "SDPA's flash kernel keeps q, k, v, its output and the fp32 log-sum-exp per (head, query) "
             "(derivatives.yaml: _scaled_dot_product_flash_attention); transformers' "
             "attn_output.transpose(1, 2).contiguous() is then a no-op, and the output projection keeps the same tensor",
    "softmax-fp32": "eager attention: softmax runs in fp32 under autocast (autocast_mode.cpp fp32_set_opt_dtype) and "
                    "keeps its fp32 output",
    "softmax-cast": "eager attention without dropout: the bf16 cast of the softmax output is the input the ·V matmul "
                    "keeps",
    "dropout": "F.dropout on CUDA is the fused native_dropout: a one-byte bool mask",
    "gelu-tanh": "transformers' NewGELUActivation (gelu_new): 0.5·x·(1 + tanh(√(2/π)(x + 0.044715·pow(x, 3)))) as "
                 "separate ops; pow runs in fp32 under autocast, so it keeps an fp32 copy of x, tanh its fp32 output, "
                 "the last product its bf16 0.5·x and fp32 (1 + tanh) (activations.py)",
    "kv-cache": "config.use_cache (default true) builds a DynamicCache in training too: torch.cat copies of each "
                "layer's K and V (cache_utils.py DynamicLayer.update), which attention then keeps; when SDPA keeps q as "
                "a view of a fused QKV projection's output (no rotary positions), that output stays alive whole, so K "
                "and V are held twice (eager attention keeps a contiguous copy of q instead, and the fused output "
                "goes); gradient checkpointing passes no cache (modeling_layers.py GradientCheckpointingLayer)",
    "kv-cache-rotary": "with rotary positions the cache's copy of K is the fp32 rotated key; attention keeps its bf16 "
                       "cast instead, so the fp32 copy lives only until the model returns its output",
    "rotary": "rotary cos and sin, fp32, one (1, s, d_rotary) pair shared by every layer (LlamaRotaryEmbedding)",
    "final-hidden": "the final norm's fp32 output, held by the model's output while the loss runs",
    "logits": "the unembedding's output, bf16 (autocast linear)",
    "logits-fp32": "transformers' ForCausalLMLoss: logits.float(), an fp32 copy for the loss (loss/loss_utils.py)",
    "log-softmax": "cross_entropy = nll_loss(log_softmax(x)): log_softmax keeps its fp32 output, which nll_loss "
                   "reads (derivatives.yaml _log_softmax: result)",
    "log-softmax-backward": "nll_loss_backward forms the fp32 gradient of the log-softmax output (tokens × vocab) and "
                            "_log_softmax_backward_data its own while the saved output is still held; after it, the "
                            "head's backward holds 6 bytes per logit at most (fp32 gradient and its bf16 cast)",
    "outputs-dropped": "the step drops the model's output before backward (Trainer.compute_loss returns the loss "
                       "only), so the bf16 logits and the cache go with the forward",
    "outputs-kept": "the step keeps the model's output (its bf16 logits and its cache) until the end of the step: "
                    "the cache's K and V copies outlive their layer's backward",
    "checkpoint": "transformers' gradient checkpointing (torch.utils.checkpoint, use_reentrant=False) keeps each "
                  "layer's inputs, the fp32 hidden state, and recomputes the layer in its backward",
    "block-backward": "while a block runs its backward: the fp32 gradient of the residual stream and the gradients "
                      "around the widest op of the part that runs its backward first (the MLP), counted as three "
                      "tensors the size of that part's largest kept tensor (the gradient flowing into the op and the "
                      "two it forms): a stated approximation, checked against the trace to 1.5 %",
    "embedding-backward": "embedding_dense_backward forms the fp32 gradient of the whole table; a tied table's is "
                          "added to the unembedding's, so both exist for a moment",
    "cublas": "cuBLAS workspace: 32 MiB per thread and stream on compute capability 9.x/10.x/12.x "
              "(CUBLAS_WORKSPACE_CONFIG default :4096:8, aten/src/ATen/cuda/CublasHandlePool.cpp; 8.125 MiB before "
              "Hopper), taken from the caching allocator and kept; the forward (Python thread) and the backward "
              "(autograd's device thread) hold one each, and cuBLASLt shares it",
    "allocator": "the caching allocator rounds every block up to 512 bytes (c10/cuda/CUDACachingAllocator.cpp): "
                 "each activation tensor is rounded; parameter-sized sums are not (each parameter tensor of d fp32 "
                 "numbers is a whole number of blocks when d is a multiple of 128)",
}


@dataclass(frozen=True)
class Implementation:
    """What a family's modeling code does that the description does not say."""

    family: str
    fused_qkv: bool = False  # one projection for Q, K and V (GPT-2's c_attn, query_key_value)
    fused_gate_up: bool = False  # one projection for gate and up (Phi-3's gate_up_proj)
    gelu: str = "gelu"  # gelu: one op keeping its input; gelu-tanh: NewGELUActivation's separate ops
    source: str = "transformers' Llama-style modeling code: separate q, k, v, gate and up projections"


IMPLEMENTATIONS: dict[str, Implementation] = {i.family: i for i in (
    Implementation("gpt2", fused_qkv=True, gelu="gelu-tanh",
                   source="transformers models/gpt2/modeling_gpt2.py: Conv1D c_attn (fused QKV, addmm), "
                          "activation_function gelu_new (NewGELUActivation)"),
    Implementation("gpt_bigcode", fused_qkv=True, source="transformers models/gpt_bigcode: c_attn"),
    Implementation("gpt_neox", fused_qkv=True, source="transformers models/gpt_neox: query_key_value"),
    Implementation("falcon", fused_qkv=True, source="transformers models/falcon: query_key_value"),
    Implementation("bloom", fused_qkv=True, source="transformers models/bloom: query_key_value"),
    Implementation("phi3", fused_qkv=True, fused_gate_up=True, source="transformers models/phi3: qkv_proj, gate_up_proj"),
)}


def implementation(a: Architecture) -> Implementation:
    return IMPLEMENTATIONS.get(a.family, Implementation(a.family))


OPTIMIZERS = ("adamw-fused", "adamw-foreach")


@dataclass(frozen=True)
class PeakSettings:
    activations: ActivationSettings = ActivationSettings(flash=True, dropout=False)
    framework: str = "pytorch-autocast"
    optimizer: str = "adamw-fused"
    keep_outputs: bool = False  # the step holds the model's output through the backward
    use_cache: bool = True  # transformers' config.use_cache (its default)
    blas_workspace: int = 32 * MiB  # bytes per thread (Hopper default)
    blas_threads: int = 2  # the forward's and the backward's

    def check(self) -> "PeakSettings":
        st = self.activations.check()
        if self.framework not in FRAMEWORKS:
            raise WorkloadError(f"--framework must be one of {', '.join(FRAMEWORKS)}, got {self.framework!r}")
        if self.optimizer not in OPTIMIZERS:
            raise WorkloadError(f"the peak model knows the optimizers {', '.join(OPTIMIZERS)}, got {self.optimizer!r}")
        if (st.tp, st.pp, st.cp) != (1, 1, 1) or st.sequence_parallel:
            raise WorkloadError("the pytorch-autocast peak is modelled on one GPU: tp, pp and cp must be 1")
        if st.recompute not in ("none", "full"):
            raise WorkloadError("pytorch-autocast: transformers checkpoints whole layers: --recompute none or full")
        for name in ("blas_workspace", "blas_threads"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise WorkloadError(f"{name} must be an integer >= 0, got {v!r}")
        return self

    def as_dict(self) -> dict:
        return {"framework": self.framework, "optimizer": self.optimizer, "keep_outputs": self.keep_outputs,
                "use_cache": self.use_cache, "blas_workspace": self.blas_workspace, "blas_threads": self.blas_threads,
                **{k: self.activations.as_dict()[k] for k in ("seq", "micro_batch", "recompute", "flash", "dropout")}}


@dataclass(frozen=True)
class Term:
    """One named figure of a phase: bytes, and the framework behaviour it assumes (a key of RULES)."""

    name: str
    nbytes: int
    rule: str

    @property
    def assumes(self) -> str:
        return RULES[self.rule]


@dataclass(frozen=True)
class Phase:
    name: str
    moment: str
    terms: tuple[Term, ...]

    @property
    def total(self) -> int:
        return sum(t.nbytes for t in self.terms)

    def term(self, name: str) -> int:
        return sum(t.nbytes for t in self.terms if t.name == name)


@dataclass(frozen=True)
class Kept:
    """One tensor a layer keeps for its backward pass under the framework's rules."""

    name: str
    part: str
    nbytes: int
    rule: str


@dataclass(frozen=True)
class KindKept:
    """What one layer of a block kind keeps, and how many layers of that kind the stack has."""

    kind: str
    layers: int
    tensors: tuple[Kept, ...]
    weight_copies: int  # bf16 copies of its weights autocast makes, one layer
    params: int  # one layer
    forward_only: int = 0  # bytes held until the model returns (the rotary keys' fp32 cache copy), one layer
    cache_shared: int = 0  # bytes of the cache that attention keeps too (its K and V copies), one layer
    working: int = 0  # the largest tensor of the part that runs its backward first (the MLP), one layer

    @property
    def per_layer(self) -> int:
        return sum(t.nbytes for t in self.tensors)

    @property
    def largest(self) -> int:
        return max((t.nbytes for t in self.tensors), default=0)


@dataclass(frozen=True)
class PeakMemory:
    model: str
    settings: PeakSettings
    implementation: Implementation
    params: int
    kinds: tuple[KindKept, ...]
    ends: tuple[Kept, ...]  # kept outside the blocks: embedding, final norm, unembedding input, rotary tables
    phases: tuple[Phase, ...]
    approximate: tuple[str, ...] = field(default=())

    @property
    def peak(self) -> Phase:
        return max(self.phases, key=lambda p: p.total)

    @property
    def total(self) -> int:
        return self.peak.total

    def phase(self, name: str) -> Phase:
        return next(p for p in self.phases if p.name == name)


PHASES = ("forward end", "loss backward", "block backward", "embedding backward", "optimizer step")


def block(n: int | Fraction) -> int:
    """One allocation of ``n`` bytes, as the caching allocator hands it out."""
    n = -(-Fraction(n).numerator // Fraction(n).denominator)
    return -(-n // BLOCK) * BLOCK if n else 0


# --- the tensors a layer keeps -------------------------------------------------------------------

PER = {"act": 2, "mask": 1, "fp32": 4, "logits": 4}
NORM_INPUTS = ("final_norm_input", "encoder_final_norm_input")
READ_BY_PROJECTIONS = ("qkv_input", "mlp_input", "logits_input", "mixer_input", "cross_query_input")
RMSNORM_16BIT = ("query_norm_input", "key_norm_input", "kv_latent", "query_latent")
TRACED_PARTS = ("attention", "mlp", "norms")  # parts whose modeling code the trace covers (dense attention, MLP)


def _acts(node, times: int = 1, out: dict | None = None) -> dict[str, Act]:
    """The Acts below ``node`` by the name ``activations`` gives their tensors."""
    out = {} if out is None else out
    if isinstance(node, Act):
        for i in range(times if node.numbered else 1):
            out[node.name.format(i + 1) if node.numbered else node.name] = node
    elif isinstance(node, Weight):
        for act in node.saves:
            _acts(act, times, out)
    elif isinstance(node, Part):
        for c in node.children:
            _acts(c, times * (node.count if node.active is None else 1), out)
    return out


def _readers(a: Architecture, name: str, impl: Implementation) -> int:
    """How many projections read the tensor ``name`` (each keeps its own bf16 cast of it)."""
    if name == "qkv_input":
        if a.is_latent:
            return 2  # the query projection (or its down-projection) and the shared key/value down-projection
        return 1 if impl.fused_qkv else 3
    if name == "mlp_input" and a.mlp == "gated":
        return 1 if impl.fused_gate_up else 2
    return 1


def _kept(a: Architecture, kind: Part, st: ActivationSettings, impl: Implementation, ps: PeakSettings,
          notes: set) -> tuple[list[Kept], int, int]:
    """What one layer of ``kind`` keeps under pytorch-autocast; the bytes its cache holds until the
    model returns (the rotary keys' fp32 copy); the bytes of its cache attention keeps too."""
    rows: list[Tensor] = kind_tensors(a, kind, replace(st, recompute="none"))
    acts = _acts(replace(kind, count=1))
    tokens = st.seq * st.micro_batch
    out: list[Kept] = []
    forward_only = shared = 0
    attention_here = any(isinstance(c, Part) and c.name == "attention" for c in kind.children)
    routed = any(w is not None for _, _, w in placed(kind))  # a routed (expert) part
    expand = a.group_size if not st.flash and not a.is_latent else 1
    for t in rows:
        act = acts[t.name]
        elements = Fraction(t.nbytes) / PER[act.dtype]
        if t.part not in TRACED_PARTS or (t.part == "mlp" and routed) or (t.part == "attention" and a.is_latent):
            notes.add(f"{kind.name}.{t.part}: tensors as declared, the modeling code was not traced")
        if t.name.startswith("norm_") and t.name.endswith("_input"):
            out += _norm(a, t.name.removesuffix("_input"), t.part, elements, tokens)
        elif t.name in READ_BY_PROJECTIONS:
            n = _readers(a, t.name, impl)
            out += [Kept(f"{t.name} (bf16 copy {i + 1} of {n})" if n > 1 else f"{t.name} (bf16 copy)", t.part,
                         block(2 * elements), "per-projection") for i in range(n)]
        elif t.name in RMSNORM_16BIT:
            rows_ = tokens * (a.n_heads if t.name == "query_norm_input" and a.qk_norm == "head" else
                              a.kv_heads if t.name == "key_norm_input" and a.qk_norm == "head" else 1)
            out += [Kept(f"{t.name} (fp32 upcast)", t.part, block(4 * elements), "rmsnorm-16bit"),
                    Kept(f"{t.name} (normalised, 16-bit)", t.part, block(2 * elements), "rmsnorm-16bit"),
                    Kept(f"{t.name} (rsqrt)", t.part, block(4 * rows_), "rmsnorm-16bit")]
        elif t.name.endswith("softmax_output"):
            out.append(Kept(t.name + " (fp32)", t.part, block(4 * elements), "softmax-fp32"))
            if not st.dropout:
                out.append(Kept(t.name.replace("softmax_output", "softmax_bf16"), t.part, block(2 * elements),
                                "softmax-cast"))
        elif t.name == "activation_input" and impl.gelu == "gelu-tanh" and a.activation == "gelu":
            out += [Kept("gelu_pow_input (fp32 upcast of x)", t.part, block(4 * elements), "gelu-tanh"),
                    Kept("gelu_tanh_output (fp32)", t.part, block(4 * elements), "gelu-tanh"),
                    Kept("gelu_half_x (bf16)", t.part, block(2 * elements), "gelu-tanh"),
                    Kept("gelu_one_plus_tanh (fp32)", t.part, block(4 * elements), "gelu-tanh")]
        elif t.name in ("out_proj_input", "softmax_stats") and st.flash:
            out.append(Kept(t.name, t.part, block(t.nbytes), "flash"))
        elif t.name in ("key", "value") and expand > 1:
            out.append(Kept(f"{t.name} (expanded to every query head)", t.part, block(expand * t.nbytes), "repeat-kv"))
        elif act.kind == "mask":
            out.append(Kept(t.name, t.part, block(t.nbytes), "dropout"))
        else:
            out.append(Kept(t.name, t.part, block(t.nbytes), "as-declared"))
    if a.qk_norm != "none" and attention_here:
        notes.add(f"{kind.name}.attention: query/key norms taken as RMSNorms over 16-bit tensors")
    if a.norms_per_block > 2:
        notes.add(f"{kind.name}.norms: every block norm taken as reading the fp32 residual stream")
    if attention_here and ps.use_cache and st.recompute == "none" and not a.is_latent:
        key = next((t for t in rows if t.name == "key"), None)
        value = next((t for t in rows if t.name == "value"), None)
        if key is not None and value is not None:
            if a.positions == "rotary":
                forward_only = block(2 * key.nbytes)  # the fp32 rotated keys (2 x the bf16 bytes)
                shared = block(value.nbytes)
            else:
                shared = block(key.nbytes) + block(value.nbytes)
                if impl.fused_qkv and st.flash:
                    out += [Kept("key (cache copy)", "attention", block(key.nbytes), "kv-cache"),
                            Kept("value (cache copy)", "attention", block(value.nbytes), "kv-cache")]
    return out, forward_only, shared


def _norm(a: Architecture, name: str, part: str, elements: Fraction, tokens: int) -> list[Kept]:
    """A norm over the fp32 residual stream: its input, and what its implementation keeps beside it."""
    out = [Kept(f"{name}_input (fp32)", part, block(4 * elements), "residual-fp32")]
    if a.norm == "rmsnorm":
        out += [Kept(f"{name}_normalized (fp32)", part, block(4 * elements), "rmsnorm"),
                Kept(f"{name}_rsqrt", part, block(4 * tokens), "rmsnorm")]
    else:
        out += [Kept(f"{name}_mean", part, block(4 * tokens), "layernorm"),
                Kept(f"{name}_rstd", part, block(4 * tokens), "layernorm")]
    return out


def _is_copied(w: Weight) -> bool:
    """A weight autocast casts to bf16: one a matmul or conv reads, or the bias such an op adds."""
    if w.kind in ("bias", "vocab_bias"):
        return w.work is not None and w.work.cost == "bias"
    return w.over is not None


def _weights(node: Part | Weight) -> tuple[int, int]:
    """(parameters, bf16 autocast copies in bytes) of one instance of ``node``."""
    params = copies = 0
    for w, times, _ in placed(node):
        n = w.rows * w.cols * times
        if not w.shared:
            params += n
        if _is_copied(w):
            copies += 2 * n
    return params, copies


def _ends_kept(a: Architecture, st: ActivationSettings, impl: Implementation) -> list[Kept]:
    model = describe(a)
    tokens = st.seq * st.micro_batch
    out: list[Kept] = []
    end_parts = [c for c in model.children if c.name != "blocks"]
    for part in end_parts:
        for name, act in _acts(part).items():
            if act.when and not all({"dropout": st.dropout, "flash": st.flash,
                                     "scores": not st.flash}[w] for w in act.when):
                continue
            elements = tokens * act.width
            if name == "logits":
                continue  # the loss's tensors are terms of their own
            if name in NORM_INPUTS:
                out += _norm(a, name.removesuffix("_input"), part.name, Fraction(elements), tokens)
            elif name in READ_BY_PROJECTIONS:
                out.append(Kept(f"{name} (bf16 copy)", part.name, block(2 * elements), "per-projection"))
            elif act.kind == "mask":
                out.append(Kept(name, part.name, block(elements), "dropout"))
            else:
                out.append(Kept(name, part.name, block(PER[act.dtype] * elements), "as-declared"))
    if a.positions == "rotary":
        rot = a.rope_dim if a.is_latent else a.head_dim
        out += [Kept("rotary_cos", "rotary", block(4 * st.seq * rot), "rotary"),
                Kept("rotary_sin", "rotary", block(4 * st.seq * rot), "rotary")]
    return out


# --- the timeline --------------------------------------------------------------------------------

def _candidates(a: Architecture) -> list[int]:
    """Stack positions where a block's backward can peak. In a stretch of layers that repeats with
    period P, the live bytes at position j and j + P differ by the same amount for every j, so on
    each residue class the maximum is at one end of the stretch: the first and last P positions of
    each stretch are enough. (A period longer than 256 layers is cut to 256: exact for every model
    we know, the ends of each stretch otherwise.)"""
    n = stack_layers(a)
    if a.is_encoder_decoder:
        stretches = [(0, a.encoder_layers), (a.encoder_layers, n)]
        p = 1
    else:
        p = lcm(a.sliding_window_pattern or 1, a.moe_every, a.attention_every)
        dense = min(a.first_dense_layers, n)
        stretches = [(0, dense), (dense, n)]
    p = min(p, 256)
    out: set[int] = set()
    for lo, hi in stretches:
        out.update(range(lo, min(lo + p, hi)))
        out.update(range(max(lo, hi - p), hi))
    return sorted(out)


def _kind_at(a: Architecture, i: int) -> str:
    return next(iter(kinds_in(a, i, i + 1)))


def peak_memory(a: Architecture, ps: PeakSettings) -> PeakMemory:
    """The memory timeline of one training step of ``a`` on one GPU under ``ps``, and its peak."""
    ps.check()
    st = ps.activations
    impl = implementation(a)
    model = describe(a)
    notes: set[str] = set()
    tokens = st.seq * st.micro_batch
    full = st.recompute == "full"

    kinds: list[KindKept] = []
    for kind in block_kinds(model):
        tensors, fwd, shared = _kept(a, kind, st, impl, ps, notes)
        params, copies = _weights(replace(kind, count=1))
        first = [t.nbytes for t in tensors if t.part == "mlp"] or [t.nbytes for t in tensors] or [0]
        kinds.append(KindKept(kind.name, kind.count, tuple(tensors), copies, params, fwd, shared, max(first)))
    by_name = {k.kind: k for k in kinds}
    ends = tuple(_ends_kept(a, st, impl))
    ends_params = ends_copies = 0
    for c in model.children:
        if c.name != "blocks":
            p, cp = _weights(c)
            ends_params, ends_copies = ends_params + p, ends_copies + cp
    params = ends_params + sum(k.params * k.layers for k in kinds)
    checkpoint = block(4 * tokens * a.d_model)  # one layer's fp32 input hidden state

    vocab = a.vocab_size if a.unembedding != "none" else 0
    logit = tokens * vocab  # logits, one number per token and vocabulary entry

    # parameter-sized terms are sums over many tensors: not rounded (a tensor of d fp32 numbers is a
    # multiple of 512 bytes whenever d is a multiple of 128)
    weights = Term("weights (fp32)", 4 * params, "weights")
    states = Term("AdamW exp_avg, exp_avg_sq (fp32)", 8 * params, "adamw")
    blas = Term("cuBLAS workspaces", ps.blas_threads * block(ps.blas_workspace), "cublas")
    base = (weights, states, blas)
    kept_all = sum(k.per_layer * k.layers for k in kinds)
    copies_all = ends_copies + sum(k.weight_copies * k.layers for k in kinds)
    ends_bytes = sum(t.nbytes for t in ends)
    if full:
        saved = Term("checkpoints (fp32 layer inputs)", checkpoint * stack_layers(a), "checkpoint")
    else:
        saved = Term("saved activations (all layers)", kept_all, "saved")
    ends_term = Term("saved outside the blocks (final norm, unembedding input, embedding mask, rotary)", ends_bytes,
                     "saved")
    final_hidden = Term("final hidden state (fp32)", block(4 * tokens * a.d_model) if vocab else 0, "final-hidden")
    cache_fwd = Term("K cache copies (fp32, rotary)", 0 if full else sum(k.forward_only * k.layers for k in kinds),
                     "kv-cache-rotary")
    held = (Term("logits (bf16, model output)", block(2 * logit), "outputs-kept"),
            Term("K cache copies (fp32, rotary, model output)", cache_fwd.nbytes, "outputs-kept")) \
        if ps.keep_outputs else ()

    def cache_after(counts: dict[str, int]) -> tuple[Term, ...]:
        """The cache copies of the layers ``counts`` that outlive their backward when the output is kept."""
        n = 0 if full else sum(by_name[k].cache_shared * c for k, c in counts.items())
        return (Term("K, V cache copies of layers through their backward (model output)", n, "outputs-kept"),) \
            if ps.keep_outputs else ()

    phases: list[Phase] = []
    # 1. the end of the forward pass, inside the loss: the cast cache still holds every copy
    phases.append(Phase("forward end", "inside the loss, before autocast exits", base + (
        Term("autocast weight copies (bf16, all)", copies_all, "autocast-cache"), saved, ends_term, final_hidden,
        cache_fwd,
        Term("logits (bf16)", block(2 * logit), "logits"),
        Term("logits upcast (fp32)", block(4 * logit), "logits-fp32"),
        Term("log-softmax output (fp32)", block(4 * logit), "log-softmax"))))
    # 2. the log-softmax's backward: the first node of the backward pass
    copies_graph = ends_copies if full else copies_all
    phases.append(Phase("loss backward", "log-softmax backward, the first backward node", base + (
        Term("autocast weight copies (bf16, held by the graph)", copies_graph, "autocast-cache"), saved, ends_term,
        Term("log-softmax output (fp32)", block(4 * logit), "log-softmax"),
        Term("gradient into the log-softmax (fp32)", block(4 * logit), "log-softmax-backward"),
        Term("gradient out of the log-softmax (fp32)", block(4 * logit), "log-softmax-backward")) + held))
    # 3. each block's backward, at every position where the maximum can be
    head_params = sum(_weights(c)[0] for c in model.children if c.name not in ("blocks", "embedding"))
    tied_table = sum(w.rows * w.cols for w, t, _ in placed(model.children[0]) if w.kind == "embedding") \
        if a.unembedding == "tied" else 0
    lower_ends = sum(t.nbytes for t in ends if t.part in ("embedding", "rotary"))
    resid_grad = Term("residual-stream gradient (fp32)", block(4 * tokens * a.d_model), "block-backward")
    best = None
    for j in _candidates(a):
        below = kinds_in(a, 0, j + 1)  # layers 0..j: not yet through their backward
        above = kinds_in(a, j + 1, stack_layers(a))
        k = by_name[_kind_at(a, j)]
        grads = 4 * (head_params + tied_table + sum(by_name[n].params * c for n, c in above.items()))
        if full:
            # the layer's own checkpoint is its recomputed norm's input: counted once, in its activations
            kept = checkpoint * (sum(below.values()) - 1) + k.per_layer
            copies = k.weight_copies
            kept_term = Term("checkpoints and the layer's recomputed activations", kept, "checkpoint")
        else:
            kept = sum(by_name[n].per_layer * c for n, c in below.items())
            copies = sum(by_name[n].weight_copies * c for n, c in below.items())
            kept_term = Term("saved activations (layers not yet through their backward)", kept, "saved")
        terms = base + (
            Term("autocast weight copies (bf16, layers not yet through their backward)", copies, "autocast-cache"),
            kept_term, Term("saved below the blocks (embedding mask, rotary)", lower_ends, "saved"),
            Term("gradients formed (fp32)", grads, "gradients"), resid_grad,
            Term("working gradients of the block's widest op", 3 * k.working, "block-backward")) + held \
            + cache_after(above)
        ph = Phase("block backward", f"layer {j} ({k.kind}) runs its backward", terms)
        if best is None or ph.total > best.total:
            best = ph
    if best is not None:
        phases.append(best)
    # 4. the embedding's backward: every other gradient formed
    table = sum(w.rows * w.cols for w, t, _ in placed(model.children[0]) if w.kind == "embedding")
    phases.append(Phase("embedding backward", "the token table's gradient is formed", base + (
        Term("gradients (fp32)", 4 * params, "gradients"),
        Term("gradient of the embedding output (fp32)", block(4 * tokens * a.d_model), "embedding-backward"),
        Term("table gradient being added (fp32, tied)", block(4 * table) if a.unembedding == "tied" else 0,
             "embedding-backward")) + held + cache_after({k.kind: k.layers for k in kinds})))
    # 5. the optimizer step
    phases.append(Phase("optimizer step", "AdamW updates every parameter", base + (
        Term("gradients (fp32)", 4 * params, "gradients"),
        Term("optimizer temporaries", 4 * params if ps.optimizer == "adamw-foreach" else 0, ps.optimizer))
        + held + cache_after({k.kind: k.layers for k in kinds})))
    if a.is_encoder_decoder:
        notes.add("encoder-decoder: the encoder's output, read by every cross-attention, taken as kept in the decoder's "
                  "cross K and V only")
    return PeakMemory(a.name, ps, impl, params, tuple(kinds), ends, tuple(phases), tuple(sorted(notes)))
