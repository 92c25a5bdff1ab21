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
Every tensor is declared once, by the part that keeps it (``core.parts``: ``Act``), and this module
walks the model's description block kind by block kind: latent attention, Mamba layers,
cross-attention, shared experts and dense or MoE layers keep their own tensors, and a pipeline stage
holds the kinds of its layers.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction

from ...errors import WorkloadError
from ...spec.arch import Architecture
from ..parts.base import Act, Part, Weight
from ..parts.model import block_kinds, describe
from .layout import stage_kinds

RECOMPUTE = ("none", "selective", "full")
ROUTED = " × top_k × capacity"
# The parts of a model outside its blocks, by the label its tensors carry (Korthikanti sec. 4.3).
ENDS = {"embedding": "embedding", "final_norm": "output", "unembedding": "output", "altup_out": "output"}


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


@dataclass(frozen=True)
class _Units:
    """What one unit of an Act's ``over`` holds on one rank, for one micro-batch."""

    tokens: Fraction  # s·b / cp
    scores: Fraction  # one head's score matrix: b · (s/cp) · s
    encoder_tokens: Fraction
    cross_scores: Fraction

    def of(self, over: str) -> Fraction:
        return getattr(self, over)


def _units(st: ActivationSettings) -> _Units:
    s, b, cp = st.seq, st.micro_batch, st.cp
    tok = Fraction(s * b, cp)
    return _Units(tok, Fraction(b * s * s, cp), tok, Fraction(b * s * s, cp))


def _kept_now(act: Act, st: ActivationSettings) -> bool:
    holds = {"dropout": st.dropout, "flash": st.flash, "scores": not st.flash and st.recompute != "selective"}
    return all(holds[w] for w in act.when)


def _bytes(act: Act, st: ActivationSettings, units: _Units) -> Fraction:
    per = {"act": st.act_bytes, "mask": st.mask_bytes, "fp32": 4, "logits": st.logits_bytes}[act.dtype]
    elements = units.of(act.over) * act.width
    split = act.shard == "inner" or st.sequence_parallel
    return per * (Fraction(elements, st.tp) if split else elements)


def _walk(node, st: ActivationSettings, units: _Units, part: str, times: int, where: str,
          out: list[Tensor]) -> None:
    """Append the tensors ``node`` keeps (``times`` instances) to ``out``."""
    if isinstance(node, Act):
        if not _kept_now(node, st):
            return
        formula = node.formula.replace("{where}", where)
        nbytes = _bytes(node, st, units)
        names = [node.name.format(i + 1) for i in range(times)] if node.numbered else [node.name]
        for name in names:
            out.append(Tensor(name, part, formula, nbytes * (1 if node.numbered else times), node.kind))
    elif isinstance(node, Weight):
        for act in node.saves:
            _walk(act, st, units, part, times, where, out)
    elif isinstance(node, Part):
        count = node.count
        if node.pattern is not None and node.pattern.encoder:
            units = replace(units, tokens=units.encoder_tokens, scores=units.cross_scores)
        if node.active is not None:  # routed: the tokens each expert slot holds, all experts together
            units = replace(units, tokens=units.tokens * node.active * st.capacity_factor)
            count, where = 1, ROUTED
        for c in node.children:
            _walk(c, st, units, part, times * count, where, out)


def kind_tensors(a: Architecture, kind: Part, st: ActivationSettings) -> list[Tensor]:
    """The tensors one layer of a block kind keeps on one GPU for one micro-batch, under ``st``."""
    st.check()
    units = _units(st)
    if kind.pattern is not None and kind.pattern.encoder:
        units = replace(units, tokens=units.encoder_tokens)
    if st.recompute == "full":
        # Table 2, "full activation recomputation": only the block input, 2sbh (split by t with
        # sequence parallelism, where the block input is already sequence-sharded).
        return [Tensor("block_input", "block", "2sbh (checkpointed block input)",
                       _bytes(Act("block_input", "", "tokens", a.d_model, "outer"), st, units), "input")]
    out: list[Tensor] = []
    for child in replace(kind, count=1).children:
        _walk(child, st, units, child.name, 1, "", out)
    return out


def main_kind(a: Architecture) -> Part:
    """The block kind most layers have (the first of equals): what per-block figures describe."""
    return max(block_kinds(describe(a)), key=lambda k: k.count)


def block_tensors(a: Architecture, st: ActivationSettings, kind: str | None = None) -> list[Tensor]:
    """The tensors one block keeps on one GPU for one micro-batch: the kind ``kind`` (by name), or
    the kind most layers have."""
    k = main_kind(a) if kind is None else next(k for k in block_kinds(describe(a)) if k.name == kind)
    return kind_tensors(a, k, st)


def _ends(a: Architecture, st: ActivationSettings, label: str) -> list[Tensor]:
    st.check()
    out: list[Tensor] = []
    for child in describe(a).children:
        if ENDS.get(child.name) == label:
            _walk(child, st, _units(st), label, 1, "", out)
    return out


def embedding_tensors(a: Architecture, st: ActivationSettings) -> list[Tensor]:
    """Korthikanti §4.3: the embedding's dropout mask, sbh bytes (split by t with SP)."""
    return _ends(a, st, "embedding")


def output_tensors(a: Architecture, st: ActivationSettings) -> list[Tensor]:
    """Korthikanti §4.3: before the loss, the final norm input 2sbh, the output projection input
    2sbh, and the fp32 logits for the cross-entropy 4sbv (vocab-parallel: split by t): 4sbh(1 + v/h)
    with sequence parallelism, all over t."""
    return _ends(a, st, "output")


def total(ts: list[Tensor]) -> Fraction:
    return sum((t.nbytes for t in ts), Fraction(0))


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


@dataclass(frozen=True)
class StageActivations:
    """What one GPU of a pipeline stage keeps at its peak (bytes, exact)."""

    stage: int
    blocks: int
    kinds: dict[str, int]  # block kind -> layers on this stage
    in_flight: Fraction  # micro-batches whose activations it holds
    blocks_bytes: Fraction
    embedding: Fraction
    output: Fraction
    recompute_working_set: Fraction
    total: Fraction


@dataclass(frozen=True)
class ActivationMemory:
    settings: ActivationSettings
    tensors: list[Tensor]  # one block of the kind most layers have
    embedding_tensors: list[Tensor]
    output_tensors: list[Tensor]
    per_block: Fraction
    per_kind: dict[str, Fraction]
    kind_tensors: dict[str, list[Tensor]]  # every kind's, when the model has several
    stages: list[StageActivations]

    @property
    def peak(self) -> StageActivations:
        return max(self.stages, key=lambda s: s.total)


def activation_memory(a: Architecture, st: ActivationSettings) -> ActivationMemory:
    """Per-stage activation bytes on one GPU, block kind by block kind: a stage keeps, for each
    micro-batch in flight, every layer it holds of each kind; the peak is the most-loaded stage."""
    st.check()
    kinds = block_kinds(describe(a))
    per_kind = {k.name: total(kind_tensors(a, k, st)) for k in kinds}
    emb, outp = embedding_tensors(a, st), output_tensors(a, st)
    dealt = stage_kinds(a, st.pp)
    if st.virtual_stages and st.virtual_stages > 1:
        fewest = min(sum(d.values()) for d in dealt)
        if st.virtual_stages > fewest:
            raise WorkloadError(f"--virtual-stages {st.virtual_stages}: a stage of {fewest} blocks cannot be cut "
                                f"into {st.virtual_stages} model chunks")
    # Full recomputation rematerialises one block's activations (one micro-batch) during that
    # block's backward: a transient on top of the checkpoints, the largest kind the stage holds.
    none = replace(st, recompute="none")
    working = {k.name: total(kind_tensors(a, k, none)) for k in kinds} if st.recompute == "full" else {}
    stages = []
    for i, held_kinds in enumerate(dealt):
        held = in_flight(st, i)
        body = held * sum((n * per_kind[k] for k, n in held_kinds.items()), Fraction(0))
        e = held * total(emb) if i == 0 else Fraction(0)
        o = total(outp) if i == st.pp - 1 else Fraction(0)  # the last stage holds 1 micro-batch
        w = max((working[k] for k in held_kinds), default=Fraction(0)) if working else Fraction(0)
        stages.append(StageActivations(i, sum(held_kinds.values()), dict(held_kinds), held, body, e, o, w,
                                       body + e + o + w))
    main = main_kind(a)
    return ActivationMemory(st, kind_tensors(a, main, st), emb, outp, per_kind[main.name], per_kind,
                            {k.name: kind_tensors(a, k, st) for k in kinds} if len(kinds) > 1 else {}, stages)
