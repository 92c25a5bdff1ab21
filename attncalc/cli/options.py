"""Options shared by several commands, declared once (Typer reads the annotations)."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Optional

import typer

from .common import complete_model

MODEL_HELP = "A preset name (`attncalc list`), a TOML file, or a Hugging Face config.json."


class AttentionMode(str, Enum):
    auto = "auto"
    causal = "causal"
    full = "full"


class OpsMode(str, Enum):
    matmul = "matmul"
    all = "all"


Model = Annotated[str, typer.Argument(help=MODEL_HELP, autocompletion=complete_model, show_default=False)]
OptModel = Annotated[Optional[str], typer.Argument(help=MODEL_HELP + " Optional with --d-model, --n-layers, --n-heads.",
                                                   autocompletion=complete_model, show_default=False)]
def length(value: str | int | None) -> int | None:
    """Typer's parser for --seq, --context, --batch and the like: 4096, 32,768, 32k (= 32,768),
    128K (= 131,072), 1M (= 1,048,576), as context windows are named (units.parse_length)."""
    if value is None or isinstance(value, int):
        return value
    from ..units import parse_length

    try:
        return parse_length(value)
    except ValueError as err:
        try:  # Typer >= 0.29 vendors its own Click; older releases use Click itself.
            from typer._click.exceptions import BadParameter
        except ImportError:  # pragma: no cover
            from click.exceptions import BadParameter
        raise BadParameter(str(err)) from None


K = " k = 1,024, M = 1,048,576 (32k = 32,768, as context windows are named)."


def Length(flag: str, help: str, *alias: str, optional: bool = True):  # noqa: N802 - an annotation factory
    """An integer option that also takes 32k, 128K, 1M (binary, see ``length``)."""
    opt = typer.Option(flag, *alias, help=help + K, parser=length, metavar="N", show_default=not optional)
    return Annotated[Optional[int], opt] if optional else Annotated[int, opt]


Batch = Length("--batch", "Sequences per forward pass / decode step.", "-b", optional=False)
Seq = Length("--seq", "Tokens per sequence (default: the model's n_ctx).", "-s")
Context = Length("--context", "Tokens in the KV cache for decode and memory (default: --seq).", "-c")
EncoderSeq = Length("--encoder-seq", "Encoder-decoder models (T5): tokens per encoder sequence, read by the encoder "
                    "and the cross-attention (default: --seq).")
Tokens = Annotated[Optional[str], typer.Option("--tokens", "-t", help="Training tokens, e.g. 300e9 or 1.4T.", show_default=False)]
Recompute = Annotated[bool, typer.Option("--recompute", help="Training with full activation recomputation (one more forward).")]
Attention = Annotated[AttentionMode, typer.Option("--attention", help="auto: the model's own (causal for decoders); causal: the triangle; full: S × S.")]
Ops = Annotated[OpsMode, typer.Option("--ops", help="matmul: matrix products only; all: also softmax, norms, activations, adds.")]
Macs = Annotated[bool, typer.Option("--macs", help="Report multiply-accumulates instead of FLOPs (1 instead of 2).")]


class LatentMode(str, Enum):
    naive = "naive"
    absorbed = "absorbed"


Latent = Annotated[LatentMode, typer.Option("--latent", help="Latent attention (DeepSeek): naive, as transformers runs it "
                                                           "(keys and values decompressed), or absorbed (over the cached latent).")]
Dtype = Annotated[str, typer.Option("--dtype", help="Weights dtype for memory: fp64, fp32, bf16, fp16, fp8, int8, int4 (or float32, bfloat16, half, e4m3…).")]
KvDtype = Annotated[Optional[str], typer.Option("--kv-dtype", help="KV cache dtype (default: --dtype).", show_default=False)]
Sets = Annotated[Optional[list[str]], typer.Option("--set", help="Change a field: --set n_kv_heads=8 (repeatable).", show_default=False)]
DModel = Annotated[Optional[int], typer.Option("--d-model", help="Build or change: d_model.", show_default=False)]
NLayers = Annotated[Optional[int], typer.Option("--n-layers", help="Build or change: n_layers.", show_default=False)]
NHeads = Annotated[Optional[int], typer.Option("--n-heads", help="Build or change: n_heads.", show_default=False)]
NKvHeads = Annotated[Optional[int], typer.Option("--n-kv-heads", help="Build or change: n_kv_heads.", show_default=False)]
DFf = Annotated[Optional[int], typer.Option("--d-ff", help="Build or change: d_ff.", show_default=False)]
Vocab = Annotated[Optional[int], typer.Option("--vocab-size", help="Build or change: vocab_size.", show_default=False)]


def load(model: str | None, sets: list[str] | None = None, **dims: int | None):
    """The architecture a command works on: MODEL, with --set and dimension options applied."""
    from ..spec.edit import apply
    from ..spec.load import load_model
    from .common import loaded

    base = loaded(load_model(model)) if model else None
    return apply(base, sets or [], dims)


def parse_tokens(tokens: str | None) -> int | None:
    if tokens is None:
        return None
    from ..errors import WorkloadError
    from ..units import parse_quantity

    try:
        return parse_quantity(tokens, what="token count")
    except ValueError as err:
        raise WorkloadError(f"--tokens: {err}") from None
