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

from dataclasses import replace

from ...spec.arch import Architecture
from ..parts.model import block_kinds, describe, kinds_in, pattern_period, stack_layers
from .layout import placed
from .peak_kept import _ends_kept, _kept, _weights
from .peak_types import (  # noqa: F401  (the model's settings, rules and results: re-exported)
                         BLOCK, FRAMEWORKS, IMPLEMENTATIONS, OPTIMIZERS, PHASES, RULES, Implementation, Kept, KindKept,
                         PeakMemory, PeakSettings, Phase, Term, block, implementation)


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
        p = pattern_period(a)
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
