"""Training activation memory: the bytes each block keeps for the backward pass, per named tensor.

Source: Korthikanti et al. 2022, "Reducing Activation Recomputation in Large Transformer Models"
(arXiv:2205.05198), §4.1 (the per-tensor list), Table 2 (per-layer bytes under each setting), §4.2
(tensor / sequence parallelism), §4.3 (pipeline stages, embedding and output layer). Their rule:
every operation keeps its inputs for the backward pass, 16-bit values (2 bytes per element) and
1-byte dropout masks. With s = tokens per sequence, b = micro-batch, h = d_model, a = heads, t =
tensor-parallel degree, one GPT block keeps sbh(34 + 5as/h) bytes with no parallelism.

Generalisations (each one line of the per-tensor list, so the paper's rows come back exactly when
the model is their GPT: a·d_head = h, n_kv_heads = a, d_ff = 4h, dropout on):
- Grouped-query attention: the K and V tensors hold s·b·n_kv_heads·d_head elements, Q and the
  out-projection input s·b·a·d_head (Korthikanti's 4sbh for Q,K is 2sbh(Q) + 2sbh(K)).
- Gated MLP (SwiGLU/GeGLU): the gate and up outputs, the activation's output and the product (the
  down-projection input) are kept: 4 tensors of s·b·d_ff instead of 2 (the activation input and the
  down input); by the same keep-the-inputs rule.
- Mixture of experts: the router probabilities (s·b·n_experts, fp32) and, per routed copy of a
  token, the expert MLP's tensors: top_k × capacity_factor × s·b tokens (Fedus et al. 2021 §2.1:
  expert capacity = capacity_factor × tokens × top_k / n_experts per expert, so all experts together
  hold at most capacity_factor × top_k × tokens); the dispatched input copy (2 bytes × h per token).
- Dropout off (most LLMs today): the three masks and the attention-dropout output are not kept
  (the softmax output itself feeds the value product).
- FlashAttention (Dao et al. 2022 §3.1): no S×S scores, softmax output, mask or dropout output; the
  softmax statistics (log-sum-exp, fp32, one per query row and head) are kept instead.
- Selective recomputation (Korthikanti §4.2.2): the 5as²b bytes of scores/softmax/dropout are
  recomputed, so they are not kept; full recomputation keeps only each block's input (Table 2: 2sbh)
  and, while one block runs its backward, that block's rematerialised activations (one micro-batch,
  counted once per stage as ``recompute_working_set``; not in Table 2, which lists what is kept).
- Context parallelism (cp): each rank holds s/cp tokens of every token-proportional tensor; its
  score tensors are (s/cp) × s per head (its queries against all keys).
A new block part (latent attention, say) adds its tensors in ``PART_TENSORS`` and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Callable

from ...errors import WorkloadError
from ...spec.arch import Architecture

RECOMPUTE = ("none", "selective", "full")


@dataclass(frozen=True)
class ActivationSettings:
    seq: int = 2048  # s: tokens per sequence
    micro_batch: int = 1  # b
    tp: int = 1  # t: tensor-parallel degree
    pp: int = 1  # p: pipeline stages
    cp: int = 1  # context-parallel degree (splits the sequence)
    sequence_parallel: bool = False
    recompute: str = "none"  # none | selective | full
    flash: bool = False
    dropout: bool = True  # Korthikanti assume dropout; set False for most current LLMs
    capacity_factor: Fraction = Fraction(1)  # MoE: tokens per expert slot (Fedus et al. 2021)
    act_bytes: int = 2  # 16-bit activations
    mask_bytes: int = 1  # dropout masks, one byte per element
    logits_bytes: int = 4  # the cross-entropy works on fp32 logits (Korthikanti §4.3: 4sbv)
    virtual_stages: int | None = None  # interleaved 1F1B: model chunks per stage (m in §4.3)
    micro_batches: int | None = None  # micro-batches per step (default: enough to fill the pipeline)

    def check(self) -> "ActivationSettings":
        for name in ("seq", "micro_batch", "tp", "pp", "cp", "act_bytes", "mask_bytes", "logits_bytes"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise WorkloadError(f"--{name.replace('_', '-')} must be an integer >= 1, got {v!r}")
        if self.recompute not in RECOMPUTE:
            raise WorkloadError(f"--recompute must be one of {', '.join(RECOMPUTE)}, got {self.recompute!r}")
        if self.capacity_factor <= 0:
            raise WorkloadError(f"--capacity-factor must be positive, got {self.capacity_factor}")
        if self.seq % self.cp:
            raise WorkloadError(f"--cp {self.cp} does not divide the sequence length {self.seq}")
        for name in ("virtual_stages", "micro_batches"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
                raise WorkloadError(f"--{name.replace('_', '-')} must be an integer >= 1, got {v!r}")
        return self

    def as_dict(self) -> dict:
        return {"seq": self.seq, "micro_batch": self.micro_batch, "tp": self.tp, "pp": self.pp, "cp": self.cp,
                "sequence_parallel": self.sequence_parallel, "recompute": self.recompute, "flash": self.flash,
                "dropout": self.dropout, "capacity_factor": str(self.capacity_factor),
                "act_bytes": self.act_bytes, "mask_bytes": self.mask_bytes, "logits_bytes": self.logits_bytes,
                "virtual_stages": self.virtual_stages, "micro_batches": self.micro_batches}


@dataclass(frozen=True)
class Tensor:
    """One kept tensor of one block (or of the embedding / output layer), on one GPU."""

    name: str
    part: str  # attention, mlp, norms, embedding, output
    formula: str  # in Korthikanti's symbols
    nbytes: Fraction  # exact; a Fraction only when t or cp does not divide evenly
    kind: str = "activation"  # activation | scores | mask | stats | input

    def as_dict(self) -> dict:
        return {"part": self.part, "formula": self.formula, "bytes": whole(self.nbytes), "kind": self.kind}


def whole(x: Fraction | int) -> int:
    """Bytes rounded up to a whole byte (exact when the parallel degrees divide evenly)."""
    x = Fraction(x)
    return -(-x.numerator // x.denominator)


@dataclass
class _Ctx:
    a: Architecture
    st: ActivationSettings
    tok: Fraction = field(init=False)  # tokens (s·b) held by one rank before TP sharding

    def __post_init__(self) -> None:
        self.tok = Fraction(self.st.seq * self.st.micro_batch, self.st.cp)

    # Sharding rules (Korthikanti §4.2): tensors inside the attention/MLP regions are split by t;
    # those outside (norm inputs, the inputs of the first linear layers, dropout masks after the
    # row-parallel layers) are split by t only with sequence parallelism.
    def inner(self, elements: Fraction) -> Fraction:
        return Fraction(elements, self.st.tp)

    def outer(self, elements: Fraction) -> Fraction:
        return Fraction(elements, self.st.tp) if self.st.sequence_parallel else Fraction(elements)


def _attention(c: _Ctx) -> list[Tensor]:
    a, st, B = c.a, c.st, c.st.act_bytes
    h, dh, n, kv = a.d_model, a.head_dim, a.n_heads, a.kv_heads
    # scores per head: (s/cp) queries × s keys × b; Korthikanti: as²b elements for a heads.
    scores = Fraction(n * st.micro_batch * st.seq * st.seq, st.cp)
    out = [
        Tensor("qkv_input", "attention", "2sbh (norm output, input of the Q, K, V projections)", B * c.outer(c.tok * h)),
        Tensor("query", "attention", "2sb·a·d_head (Q, input of QKᵀ)", B * c.inner(c.tok * n * dh)),
        Tensor("key", "attention", "2sb·n_kv·d_head (K, input of QKᵀ)", B * c.inner(c.tok * kv * dh)),
    ]
    keep_scores = not st.flash and st.recompute != "selective"
    if keep_scores:
        out.append(Tensor("softmax_output", "attention", "2as²b (softmax output)", B * c.inner(scores), "scores"))
        if st.dropout:
            out.append(Tensor("softmax_dropout_mask", "attention", "as²b (1-byte mask)", st.mask_bytes * c.inner(scores), "mask"))
            out.append(Tensor("attention_dropout_output", "attention", "2as²b (dropout output, input of ·V)", B * c.inner(scores), "scores"))
    if st.flash:
        # FlashAttention keeps the log-sum-exp per query row and head, fp32 (Dao et al. 2022, Alg. 2).
        out.append(Tensor("softmax_stats", "attention", "4sb·a (log-sum-exp, fp32)", 4 * c.inner(c.tok * n), "stats"))
    out += [
        Tensor("value", "attention", "2sb·n_kv·d_head (V, input of ·V)", B * c.inner(c.tok * kv * dh)),
        Tensor("out_proj_input", "attention", "2sb·a·d_head (input of the output projection)", B * c.inner(c.tok * n * dh)),
    ]
    if st.dropout:
        out.append(Tensor("attention_out_dropout_mask", "attention", "sbh (1-byte mask)", st.mask_bytes * c.outer(c.tok * h), "mask"))
    return out


def _mlp(c: _Ctx) -> list[Tensor]:
    a, st, B = c.a, c.st, c.st.act_bytes
    h, f = a.d_model, a.ff_dim
    out: list[Tensor] = []
    routed = c.tok
    where = ""
    if not a.parallel_block:
        out.append(Tensor("mlp_input", "mlp", "2sbh (norm output, input of the first MLP matrix)", B * c.outer(c.tok * h)))
    if a.is_moe:
        # Router softmax output, fp32, one value per token and expert (kept for its backward).
        out.append(Tensor("router_probs", "mlp", "4sb·E (router probabilities, fp32)", 4 * c.outer(c.tok * a.n_experts)))
        routed = c.tok * a.top_k * st.capacity_factor
        where = " × top_k × capacity"
        out.append(Tensor("expert_input", "mlp", f"2sbh{where} (tokens dispatched to experts)", B * c.inner(routed * h)))
    if a.mlp == "gated":
        out += [
            Tensor("gate_output", "mlp", f"2sb·d_ff{where} (activation input)", B * c.inner(routed * f)),
            Tensor("up_output", "mlp", f"2sb·d_ff{where} (product input)", B * c.inner(routed * f)),
            Tensor("activation_output", "mlp", f"2sb·d_ff{where} (product input)", B * c.inner(routed * f)),
            Tensor("down_input", "mlp", f"2sb·d_ff{where} (input of the down matrix)", B * c.inner(routed * f)),
        ]
    else:
        out += [
            Tensor("activation_input", "mlp", f"2sb·d_ff{where} (GeLU input; 8sbh at d_ff = 4h)", B * c.inner(routed * f)),
            Tensor("down_input", "mlp", f"2sb·d_ff{where} (input of the second matrix; 8sbh at d_ff = 4h)", B * c.inner(routed * f)),
        ]
    if st.dropout:
        out.append(Tensor("mlp_dropout_mask", "mlp", "sbh (1-byte mask)", st.mask_bytes * c.outer(c.tok * h), "mask"))
    return out


def _norms(c: _Ctx) -> list[Tensor]:
    h, B = c.a.d_model, c.st.act_bytes
    names = ["norm_1_input", "norm_2_input"][: c.a.norms_per_block]
    return [Tensor(n, "norms", "2sbh (norm input)", B * c.outer(c.tok * h)) for n in names]


# Each part of a block adds its kept tensors here, in one place; a new attention kind (latent
# attention) registers one function and is chosen in ``_parts``.
PART_TENSORS: dict[str, Callable[[_Ctx], list[Tensor]]] = {
    "attention": _attention,
    "mlp": _mlp,
    "norms": _norms,
}


def _parts(a: Architecture) -> tuple[str, ...]:
    return ("attention", "mlp", "norms")


def block_tensors(a: Architecture, st: ActivationSettings) -> list[Tensor]:
    """The tensors one block keeps on one GPU for one micro-batch, under ``st``."""
    st.check()
    c = _Ctx(a, st)
    if st.recompute == "full":
        # Table 2, "full activation recomputation": only the block input, 2sbh (split by t with
        # sequence parallelism, where the block input is already sequence-sharded).
        return [Tensor("block_input", "block", "2sbh (checkpointed block input)", st.act_bytes * c.outer(c.tok * a.d_model), "input")]
    out: list[Tensor] = []
    for part in _parts(a):
        out += PART_TENSORS[part](c)
    return out


def embedding_tensors(a: Architecture, st: ActivationSettings) -> list[Tensor]:
    """Korthikanti §4.3: the embedding's dropout mask, sbh bytes (split by t with SP)."""
    if not st.dropout:
        return []
    c = _Ctx(a, st)
    return [Tensor("embedding_dropout_mask", "embedding", "sbh (1-byte mask)", st.mask_bytes * c.outer(c.tok * a.d_model), "mask")]


def output_tensors(a: Architecture, st: ActivationSettings) -> list[Tensor]:
    """Korthikanti §4.3: before the loss, the final norm input 2sbh, the output projection input
    2sbh, and the fp32 logits for the cross-entropy 4sbv (vocab-parallel: split by t): 4sbh(1 + v/h)
    with sequence parallelism, all over t."""
    c, B = _Ctx(a, st), st.act_bytes
    h = a.d_model
    out = []
    if a.final_norm:
        out.append(Tensor("final_norm_input", "output", "2sbh (final norm input)", B * c.outer(c.tok * h)))
    if a.unembedding != "none":
        out.append(Tensor("logits_input", "output", "2sbh (input of the output projection)", B * c.outer(c.tok * h)))
        out.append(Tensor("logits", "output", "4sbv (fp32 logits for the cross-entropy)", st.logits_bytes * c.inner(c.tok * a.vocab_size)))
    return out


def total(ts: list[Tensor]) -> Fraction:
    return sum((t.nbytes for t in ts), Fraction(0))


def stage_layers(n_layers: int, pp: int) -> list[int]:
    """Blocks per pipeline stage: as even as possible, the first stages taking one more."""
    if pp > n_layers:
        raise WorkloadError(f"--pp {pp} is more than the {n_layers} blocks")
    q, r = divmod(n_layers, pp)
    return [q + (1 if i < r else 0) for i in range(pp)]


def in_flight(st: ActivationSettings, stage: int) -> Fraction:
    """Micro-batches whose activations stage ``stage`` holds at its peak under 1F1B (Narayanan et
    al. 2021 §2.2; Korthikanti §4.3): p - stage (the first stage holds p); fewer when the step has
    fewer micro-batches. Interleaved (m chunks per stage): the first stage holds
    p·(1 + (p - 1)/(p·m)) micro-batches' worth (Korthikanti §4.3)."""
    p = st.pp
    if st.virtual_stages and st.virtual_stages > 1 and p > 1:
        m = st.virtual_stages
        held = Fraction(p) * (1 + Fraction(p - 1, p * m)) if stage == 0 else Fraction(p - stage)
    else:
        held = Fraction(p - stage)
    if st.micro_batches is not None:
        held = min(held, Fraction(st.micro_batches))
    return held


def activation_memory(a: Architecture, st: ActivationSettings) -> dict:
    """Per-stage activation bytes on one GPU; the peak is the most-loaded stage (the first)."""
    st.check()
    blocks = block_tensors(a, st)
    per_block = total(blocks)
    emb, outp = embedding_tensors(a, st), output_tensors(a, st)
    layers = stage_layers(a.n_layers, st.pp)
    # Full recomputation rematerialises one block's activations (one micro-batch) during that
    # block's backward: a transient on top of the checkpoints, counted on every stage.
    working = total(block_tensors(a, replace(st, recompute="none"))) if st.recompute == "full" else Fraction(0)
    stages = []
    for i, n in enumerate(layers):
        held = in_flight(st, i)
        body = held * n * per_block
        e = held * total(emb) if i == 0 else Fraction(0)
        o = total(outp) if i == st.pp - 1 else Fraction(0)  # the last stage holds 1 micro-batch
        stages.append({"stage": i, "blocks": n, "in_flight": held, "blocks_bytes": body, "embedding": e,
                       "output": o, "recompute_working_set": working, "total": body + e + o + working})
    peak = max(stages, key=lambda s: s["total"])
    return {"settings": st, "tensors": blocks, "embedding_tensors": emb, "output_tensors": outp,
            "per_block": per_block, "stages": stages, "peak": peak}


def activation_document(a: Architecture, st: ActivationSettings) -> dict:
    """The JSON form: memory.activations.{per_block, total, tensors, settings, stages}."""
    m = activation_memory(a, st)
    return {
        "settings": st.as_dict(),
        "per_block": whole(m["per_block"]),
        "total": whole(m["peak"]["total"]),
        "most_loaded_stage": m["peak"]["stage"],
        "tensors": {t.name: t.as_dict() for t in m["tensors"]},
        "embedding": {t.name: t.as_dict() for t in m["embedding_tensors"]},
        "output": {t.name: t.as_dict() for t in m["output_tensors"]},
        "stages": [{"stage": s["stage"], "blocks": s["blocks"], "in_flight": _num(s["in_flight"]),
                    "blocks_bytes": whole(s["blocks_bytes"]), "embedding": whole(s["embedding"]),
                    "output": whole(s["output"]), "recompute_working_set": whole(s["recompute_working_set"]),
                    "total": whole(s["total"])} for s in m["stages"]],
    }


def _num(x: Fraction) -> int | str:
    return x.numerator if x.denominator == 1 else str(x)
