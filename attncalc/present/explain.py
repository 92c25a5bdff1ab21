"""`attncalc explain`: the arithmetic written out step by step, as the 3Blue1Brown chapter walks
through GPT-3: each matrix's shape and product, a head, a block, all blocks, the embedding and
unembedding, the total; then the FLOPs of a forward pass at a sequence length.

Every number is read from the parameter and FLOP trees; the lines only show how they multiply.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..core.evaluate import kinds
from ..core.memory.cache import cache_kinds
from ..dtypes import dtype_bytes, nbytes
from ..core.figures import Params, PassFlops, attention_kind, head_matrices, main_block, kind_mlp
from ..core.workload import Convention
from ..spec.arch import Architecture

NAMES = {"query": "query W_Q", "key": "key W_K", "value_down": "value-down W_V", "value_up": "value-up (W_O slice)"}


@dataclass(frozen=True)
class Step:
    text: str  # "query W_Q = d_head × d_model"
    factors: str  # "128 × 12,288"
    result: int


def n(x: int) -> str:
    return f"{x:,}"


def param_steps(a: Architecture, s: Params) -> list[tuple[str, list[Step]]]:
    tree = s.tree
    att = main_block(tree).get("attention") or attention_kind(tree.get("blocks").children).child("attention")
    mats = head_matrices(att)
    # blocks with attention heads (all of them, but for a hybrid's Mamba layers)
    L, H, KV = s.attention.heads_total // s.attention.heads_per_block, a.n_heads, a.kv_heads
    head = []
    for key, node in mats.items():
        r, c = node.shape
        if a.is_latent:  # the leaf says what it is: an up-projection from a latent
            name, dims = node.label, node.formula
        else:
            name, dims = NAMES[key], "d_model × d_head" if key == "value_up" else "d_head × d_model"
        head.append(Step(f"{name} = {dims}", f"{n(r)} × {n(c)}", node.value))
    head.append(Step("one head = query + key + value-down + value-up",
                     " + ".join(n(m.value) for m in mats.values()), s.attention.per_head))
    block = []
    if KV == H:
        block.append(Step("heads in one block = n_heads × one head", f"{H} × {n(s.attention.per_head)}",
                          s.attention.heads_per_block))
    else:
        qv = mats["query"].value + mats["value_up"].value
        kv = mats["key"].value + mats["value_down"].value
        block.append(Step("heads in one block = n_heads × (query + value-up) + n_kv_heads × (key + value-down)",
                          f"{H} × {n(qv)} + {KV} × {n(kv)}", s.attention.heads_per_block))
    per_kind = [(k.count, heads_of_kind) for k in tree.get("blocks").children
                if (heads_of_kind := k.total_at("attention.heads") + k.total_at("attention.kv_groups"))]
    if len({h for _, h in per_kind}) > 1:  # layers differ in their heads (Gemma 3n's KV-sharing layers)
        block.append(Step("heads in all blocks = Σ over block kinds of layers × heads per block",
                          " + ".join(f"{c} × {n(h)}" for c, h in per_kind), s.attention.heads_total))
    else:
        block.append(Step("heads in all blocks = n_layers × heads per block", f"{L} × {n(s.attention.heads_per_block)}",
                          s.attention.heads_total))
    for key, node in mats.items():
        copies = H if key in ("query", "value_up") else KV
        held = sum(t for path, leaf, t in tree.get("blocks").walk() if not leaf.children and leaf.name == key
                   and ".attention." in path and ".indexer." not in path and leaf.value == node.value)
        if held != copies * L:  # not every layer has this matrix (a KV-sharing layer has no keys or values)
            block.append(Step(f"all {NAMES[key]} matrices = {'n_heads' if copies == H else 'n_kv_heads'} × the layers "
                              "that have one × one", f"{copies} × {held // copies} × {n(node.value)}", held * node.value))
            continue
        block.append(Step(f"all {NAMES[key]} matrices = {'n_heads' if copies == H else 'n_kv_heads'} × n_layers × one",
                          f"{copies} × {L} × {n(node.value)}", copies * L * node.value))
    main = main_block(tree)
    mlp_node = kind_mlp(main)
    expert = mlp_node.get("expert")
    body = expert.children if expert else mlp_node.children
    blocks_with = main.count  # the layers of the main kind: all of them for a model of one kind
    where = "in all blocks" if blocks_with == L else f"in the {blocks_with} {main.label}s"
    mlp = []
    for leaf in body:
        if leaf.kind != "matrix":
            continue
        r, c = leaf.shape
        mult = f"{a.n_experts} experts × " if expert else ""
        mlp.append(Step(f"MLP {leaf.label} = {leaf.formula.replace(' x ', ' × ')}", f"{n(r)} × {n(c)}", leaf.value))
        copies = a.n_experts if expert else 1
        layers = "n_layers" if blocks_with == L else "blocks"
        mlp.append(Step(f"  {where} = {mult}{layers} × one", f"{(str(copies) + ' × ') if expert else ''}{blocks_with} × {n(leaf.value)}",
                        copies * blocks_with * leaf.value))
    per_kind = " + ".join(f"{k.count} × {n(k.mlp_per_block)}" for k in s.kinds)
    mlp.append(Step("MLP in all blocks (with biases" + (", router" if expert else "") + ")",
                    f"{L} × {n(s.mlp.per_block)}" if len(s.kinds) == 1 else per_kind, s.mlp.total))
    emb_v = a.vocab_size * a.d_model
    ends = [Step("embedding W_E = vocab_size × d_model", f"{n(a.vocab_size)} × {n(a.d_model)}", emb_v)]
    if a.unembedding != "none":
        tied = " (tied: the same matrix as W_E)" if a.unembedding == "tied" else ""
        ends.append(Step(f"unembedding W_U = vocab_size × d_model{tied}", f"{n(a.vocab_size)} × {n(a.d_model)}", emb_v))
    total = []
    matrices = s.conventions.matrices_only
    n_vocab_matrices = 2 if a.unembedding != "none" else 1
    mlp_and_rest = matrices - s.attention.heads_total - n_vocab_matrices * emb_v
    parts = [n(emb_v), n(s.attention.heads_total), n(mlp_and_rest)]
    if a.unembedding != "none":
        parts.append(n(emb_v))
    total.append(Step("weight matrices: W_E + heads + MLP (and router, pooler) + W_U", " + ".join(parts), matrices))
    other = s.total - matrices
    total.append(Step("all parameters = matrices + biases, norms and position tables"
                      + (" − W_U (tied, counted once)" if a.unembedding == "tied" else ""),
                      f"{n(matrices)} {'+' if other >= 0 else '−'} {n(abs(other))}", s.total))
    total.append(Step("attention heads' share of all parameters", f"{n(s.attention.heads_total)} / {n(s.total)}",
                      round(100 * s.attention.heads_total / s.total, 1)))
    return [("one head", head), ("heads, block by block", block), ("the MLP", mlp),
            ("embedding and unembedding", ends), ("the total", total), ("the KV cache, per token", kv_steps(a, s))]


def kv_steps(a: Architecture, s: Params, dtype: str = "bf16") -> list[Step]:
    """What one token leaves in the cache: keys and values of every key/value head, or (latent
    attention, DeepSeek-V2 sec. 2.1.2 and Table 1) one latent and one shared rotary key, which the
    up-projections W_UK and W_UV turn back into every head's keys and values when needed; summed
    over the block kinds that cache (a hybrid's Mamba layers keep a state per sequence instead, an
    encoder nothing), as ``count``'s KV cache is."""
    kinds_ = cache_kinds(a)
    caching = [k for k in kinds_ if k.per_token]
    steps: list[Step] = []
    per = caching[0].per_token if caching else 0
    if a.is_latent and a.index_heads:  # DeepSeek-V3.2: the indexer's key too
        steps.append(Step("numbers one layer caches = kv_lora_rank + d_rope + index_head_dim (latent, rotary key, "
                          "indexer key)", f"{n(a.kv_lora_rank)} + {a.rope_dim} + {a.index_head_dim}", per))
    elif a.is_latent:
        steps.append(Step("numbers one layer caches = kv_lora_rank + d_rope (latent and rotary key, for all heads)",
                          f"{n(a.kv_lora_rank)} + {a.rope_dim}", per))
    elif caching:
        steps.append(Step("numbers one layer caches = 2 (key, value) × n_kv_heads × d_head",
                          f"2 × {a.kv_heads} × {a.head_dim}", per))
    layers = sum(k.count for k in caching)
    total = sum(k.count * k.per_token for k in caching)
    if len({k.per_token for k in caching}) == 1:
        which = "n_layers" if layers == a.n_layers + a.encoder_layers else "layers that cache"
        steps.append(Step(f"numbers per token = {which} × per layer", f"{layers} × {n(per)}", total))
    elif caching:
        steps.append(Step("numbers per token = Σ over block kinds of layers × per layer",
                          " + ".join(f"{k.count} × {n(k.per_token)}" for k in caching), total))
    b = dtype_bytes(dtype)
    elem = f"{b.numerator}" if b.denominator == 1 else f"{b.numerator}/{b.denominator}"
    steps.append(Step(f"bytes per token = numbers × {elem} bytes ({dtype})", f"{n(total)} × {elem}",
                      sum(k.count * nbytes(k.per_token, dtype) for k in caching)))
    if a.is_latent:
        steps.append(Step("multi-head attention would cache 2 × n_heads × (d_nope + d_rope) per layer",
                          f"2 × {a.n_heads} × {a.head_dim + a.rope_dim}", 2 * a.n_heads * (a.head_dim + a.rope_dim)))
    state = [k for k in kinds_ if k.per_sequence]
    if state:
        steps.append(Step("numbers a sequence keeps whatever its length (Mamba: d_inner × (d_state + d_conv) per layer)",
                          " + ".join(f"{k.count} × {n(k.per_sequence)}" for k in state),
                          sum(k.count * k.per_sequence for k in state)))
    return steps


def flop_steps(a: Architecture, f: PassFlops, seq: int, conv: Convention) -> list[tuple[str, list[Step]]]:
    """The forward pass of one sequence of ``seq`` tokens (``f``: that pass's figures)."""
    fwd = f.tree
    k = conv.per_mac
    main = main_block(fwd)
    mask = conv.mask(a, next(kd for kd in kinds(a) if kd.name == main.name).pattern)  # the main kind's reach
    causal, window = mask.causal, mask.window
    pairs = mask.pairs(seq)
    parts = f.attention.per_head_parts
    steps = []
    formulas = f.attention.per_head_formulas
    for key in ("query", "key", "value_down", "value_up"):
        if a.is_latent:  # shapes differ per matrix: the FLOP tree's own factors
            steps.append(Step(f"{key.replace('_', '-')}: {k} × tokens × rows × cols",
                              formulas[key].replace(" tokens", ""), parts[key]))
        else:
            steps.append(Step(f"{NAMES[key]}: {k} × tokens × d_head × d_model", f"{k} × {n(seq)} × {a.head_dim} × {n(a.d_model)}", parts[key]))
    if causal and not window:
        steps.append(Step("pairs a causal mask keeps = S × (S + 1) / 2", f"{n(seq)} × {n(seq + 1)} / 2", pairs))
    elif causal:
        steps.append(Step(f"pairs within a window of {n(window)}", "W(W + 1)/2 + (S − W) × W", pairs))
    else:
        steps.append(Step("pairs, full attention = S × S", f"{n(seq)} × {n(seq)}", pairs))
    pattern = next(kd for kd in kinds(a) if kd.name == main.name).pattern
    selected = conv.selected(mask, pattern, seq, False)
    if selected != pairs:  # DeepSeek Sparse Attention: each query's top-k keys of those its mask allows
        k_top = pattern.topk
        steps.append(Step(f"pairs the indexer selects = Σ min(top-k, keys) = k(k + 1)/2 + (S − k) × k, k = {n(k_top)}",
                          f"{n(k_top)} × {n(k_top + 1)} / 2 + ({n(seq)} − {n(k_top)}) × {n(k_top)}", selected))
        pairs = selected
    qk, v = (a.head_dim + a.rope_dim, a.value_dim) if a.is_latent else (a.head_dim, a.head_dim)
    width = "(d_nope + d_rope)" if a.is_latent else "d_head"
    steps.append(Step(f"scores q·k: {k} × pairs × {width}", f"{k} × {n(pairs)} × {qk}", parts["scores"]))
    steps.append(Step(f"weighted sum of values: {k} × pairs × {'v_head_dim' if a.is_latent else 'd_head'}",
                      f"{k} × {n(pairs)} × {v}", parts["weighted_values"]))
    head_total = sum(parts.values())
    steps.append(Step("one head", " + ".join(n(v) for v in parts.values()), head_total))
    blk = main_block(fwd)
    if blk.get("attention") is None:  # a hybrid whose most layers are Mamba: its attention layers' kind
        blk = attention_kind(fwd.get("blocks").children)
    att, mlp = blk.child("attention").each, kind_mlp(blk).each
    block = [Step("attention in one block", "all heads and shared key/value projections", att),
             Step("MLP in one block", f"{k} × tokens × matrix entries", mlp),
             Step("one block", f"{n(att)} + {n(mlp)}" + (
                 f" + {n(blk.each - att - mlp)} ({', '.join(c.label for c in blk.children if c.name not in ('attention', 'mlp') and c.total)})"
                 if blk.each - att - mlp else ""), blk.each),
             Step("all blocks", f"{a.n_layers} × {n(blk.each)}" if len(f.kinds) == 1
                  else " + ".join(f"{kk.count} × {n(kk.per_block)}" for kk in f.kinds), fwd.get("blocks").total)]
    if fwd.get("unembedding"):
        block.append(Step(f"logits: {k} × tokens × vocab_size × d_model", f"{k} × {n(seq)} × {n(a.vocab_size)} × {n(a.d_model)}",
                          fwd.get("unembedding").total))
    block.append(Step("forward pass", f"sequence of {n(seq)} tokens", fwd.total))
    block.append(Step("training (forward + backward = 3 × forward)", f"3 × {n(fwd.total)}", 3 * fwd.total))
    unit = "MACs" if k == 1 else "FLOPs"  # --macs: one per multiply-accumulate
    return [(f"{unit} of one head at {n(seq)} tokens ({conv.describe(a)})", steps), (f"{unit} of the model", block)]


# --- drawing the steps ---------------------------------------------------------------------------------


def result_value(x: int | float) -> int | str:
    """A step's result: an exact integer, or (the heads' share) a percentage."""
    return x if isinstance(x, int) else f"{x}%"


def explain_title(a: Architecture) -> str:
    from .text import safe

    return f"{safe(a.name)}: d_model {a.d_model:,}, {a.n_layers} layers, {a.n_heads} heads of {a.head_dim}"


def explain_plain(title: str, sections: list[tuple[str, list[Step]]]) -> str:
    lines = [title]
    for name, steps in sections:
        lines += ["", f"{name}:"] + [f"  {st.text} = {st.factors} = {_num(st.result)}" for st in steps]
    return "\n".join(lines) + "\n"


def _num(x: int | float) -> str:
    return f"{x:,}" if isinstance(x, int) else f"{x}%"


def explain_blocks(title: str, sections: list[tuple[str, list[Step]]]) -> list:
    """One table per section: the step (folds), its factors (fold), its result (exact, never cut)."""
    from .tables import EXACT, TEXT, Column, Para, Table

    blocks: list = [Para(title, "bold")]
    for name, steps in sections:
        t = Table(name, (Column("step", TEXT, fold=True), Column("factors", TEXT, fold=True),
                         Column("result", EXACT)), key=name)
        for st in steps:
            t.add(st.text, st.factors, result_value(st.result))
        blocks.append(t)
    return blocks


def explain_document(a: Architecture, seq: int, conv: Convention, sections: list[tuple[str, list[Step]]]) -> dict:
    from .document import envelope

    return envelope(model=a.name, seq=seq, convention=conv.as_dict(a) | {"text": conv.describe(a)},
                    steps=[{"section": name, "text": st.text, "factors": st.factors, "result": st.result}
                           for name, steps in sections for st in steps])
