"""The settings, rules and typed results of the peak-memory model (``core.memory.peak``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

from ...errors import WorkloadError
from ...spec.arch import Architecture
from .activations import ActivationSettings


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


