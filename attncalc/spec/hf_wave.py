"""What the readers of the 2026 wave share (spec/readers_dense.py and the hybrid and multimodal
reader modules): ``_Read``, a reading that records the keys asked, the defaults taken and the notes
for ``show``; the common shapes (a Llama-like base, heads, biases, experts, partial rotary, layer
periods); and ``make_readers``, which wraps each reader function so its notes reach the model.
Defaults are transformers 5.24's config classes (tests/golden/WAVE_NOTES.md, Appendix A).
"""

from __future__ import annotations

from typing import Any, Callable

from .hf_read import _Cfg

MISSING = object()


class _Read(_Cfg):
    """``_Cfg`` sharing the reading's record of keys asked and defaults used (hf_read.py), plus the
    notes a reader leaves for ``show`` (what transformers builds differently from the checkpoint)."""

    def __init__(self, c: _Cfg):
        super().__init__(c.data, c.source, c.tried, c.defaults)
        self.notes: list[str] = []

    def positive(self, key: str, default: int | None, *aliases: str, what: str = "") -> int:
        """A count the model cannot be built without (None: transformers' default does not build)."""
        v = self.int(key, default, *aliases)
        if v is None:
            raise self.fail(key, f"required: transformers' default is None, which does not build{what}")
        return v

    def kinds(self, types: list) -> _Cfg:
        """This reading, with a layer_types list the reader built (as transformers' __post_init__ does)."""
        return self.derive({**self.data, "layer_types": types})

    def note(self, text: str) -> None:
        self.notes.append(text)

    def raw(self, key: str, default: Any = None) -> Any:
        """A key's value as written (a per-layer list, a flag transformers ignores), marked as read."""
        self.tried.add(key)
        return self.data.get(key, default)


def _act(c: _Read, default: str) -> str:
    return c.activation("hidden_act", default)


def _kv_heads(c: _Read, heads: int, default: int | None) -> int:
    """num_key_value_heads; absent takes the default, None (or a None default) means multi-head
    (every ``__post_init__`` of these types that accepts None sets it to num_attention_heads)."""
    if "num_key_value_heads" in c.data and c.raw("num_key_value_heads") is None:
        return heads
    v = c.int("num_key_value_heads", default)
    return heads if v is None else v


def _head_dim(c: _Read, d: int, heads: int, default: int | None | object = MISSING) -> int:
    """The attention's head dimension. ``default`` MISSING: the config class has no head_dim field
    and the attention reads ``getattr(config, "head_dim", hidden_size // num_attention_heads)``;
    an int: the field's default; None: the field defaults to None and ``__post_init__`` puts
    hidden_size // num_attention_heads in its place (ernie4_5, seed_oss, arcee)."""
    if default is MISSING:  # no field, so no default: the attention's own fallback
        if "head_dim" in c.data and c.raw("head_dim") is None:
            raise c.fail("head_dim", "null: the attention reads None (getattr finds the key); give a number or leave it out")
        return c.int("head_dim", d // heads)
    v = c.int("head_dim", default)  # type: ignore[arg-type]
    return d // heads if v is None else v


def _base(c: _Read, vocab: int, hidden: int, inter: int, layers: int, heads: int, kv: int | None, ctx: int,
          tied: bool, head_dim: int | None | object = MISSING, act: str = "silu") -> dict[str, Any]:
    """The Llama-shaped skeleton every type here shares: RMSNorm, rotary, a gated SiLU MLP."""
    h = c.int("num_attention_heads", heads)
    d = c.int("hidden_size", hidden)
    return dict(vocab_size=c.int("vocab_size", vocab), d_model=d, n_layers=c.int("num_hidden_layers", layers),
                n_heads=h, n_kv_heads=_kv_heads(c, h, kv), d_head=_head_dim(c, d, h, head_dim),
                d_ff=c.int("intermediate_size", inter), mlp="gated", activation=_act(c, act), norm="rmsnorm",
                positions="rotary", n_ctx=c.int("max_position_embeddings", ctx),
                unembedding="tied" if c.bool("tie_word_embeddings", tied) else "untied")


def _biases(c: _Read, key: str = "attention_bias", default: bool = False, out: bool | None = None,
            mlp: bool | str = False) -> dict[str, Any]:
    """Attention biases from ``key`` (q/k/v, and o unless ``out`` says otherwise), MLP biases from
    ``mlp`` (a key name, or a fixed answer)."""
    b = c.bool(key, default)
    return {"qkv_bias": b, "out_bias": b if out is None else out,
            "mlp_bias": c.bool(mlp, False) if isinstance(mlp, str) else mlp}


def _experts(c: _Read, n: int | None, key: str) -> int:
    if n is None or n < 2:
        raise c.fail(key, f"{n!r} routed experts: a mixture of experts needs at least 2 (one expert with a router "
                          "is not modelled)")
    return n


def _partial_rotary(c: _Read, default: float | None = None) -> None:
    v = c.raw("partial_rotary_factor", default)
    if isinstance(v, (int, float)) and not isinstance(v, bool) and v != 1:
        c.note(f"partial_rotary_factor {v}: rotary positions on part of each head's dimensions (no parameters or "
               "FLOPs change).")


def _mtp_note(c: _Read, *keys: str) -> None:
    found = {k: c.raw(k) for k in keys if c.raw(k) not in (None, 0, False)}
    if found:
        said = ", ".join(f"{k} {v}" for k, v in found.items())
        c.note(f"The published checkpoint carries multi-token prediction weights ({said}); transformers 5.24 builds "
               "no MTP module, so they are in no count here.")


def _period(c: _Read, key: str, values: list, n_layers: int, special: Any) -> int | None:
    """A per-layer list as "every k-th layer (k-1, 2k-1, ...) is ``special``": k, None (no layer is),
    0 (every layer is); anything else is refused, named."""
    if len(values) != n_layers:
        raise c.fail(key, f"has {len(values)} entries for {n_layers} layers")
    at = [i for i, v in enumerate(values) if v == special]
    if not at:
        return None
    if len(at) == n_layers:
        return 1
    k = at[0] + 1
    if at != list(range(k - 1, n_layers, k)):
        raise c.fail(key, "not every k-th layer (k-1, 2k-1, ...): this layer pattern is not modelled")
    return k


def make_readers(table: dict[str, Callable[[_Read], dict[str, Any]]]) -> dict[str, Callable[[_Cfg], dict[str, Any]]]:
    """config.json readers from reader functions of a ``_Read``: the defaults each takes are recorded
    on the reading (``show`` lists them, Architecture._read), its notes become the model's notes."""
    def wrap(model_type: str, read: Callable[[_Read], dict[str, Any]]):
        def reader(c: _Cfg) -> dict[str, Any]:
            r = _Read(c)
            out = read(r)
            return out | ({"notes": " ".join(r.notes)} if r.notes else {})

        reader.__name__ = f"read_{model_type}"
        return reader

    return {t: wrap(t, f) for t, f in table.items()}
