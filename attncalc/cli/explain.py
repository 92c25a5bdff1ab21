"""`attncalc explain MODEL`: the arithmetic, step by step, every line a formula with its factors."""

from __future__ import annotations

import typer

from . import app
from .common import emit, handles_errors, stdout
from .options import Attention, AttentionMode, Macs, Model, Seq, Sets, load


@app.command(epilog="Examples: attncalc explain gpt3 · attncalc explain llama-3-8b --seq 8192")
@handles_errors
def explain(
    model: Model, seq: Seq = None, attention: Attention = AttentionMode.auto, macs: Macs = False,
    sets: Sets = None,
    plain: bool = typer.Option(False, "--plain", help="Plain text, no table drawing."),
) -> None:
    """Write out the arithmetic: each matrix, a head, a block, all blocks, embeddings, the total, FLOPs."""
    from ..core.report import build
    from ..core.workload import Convention, Workload, positive
    from ..present.explain import flop_steps, param_steps

    arch = load(model, sets)
    s = arch.n_ctx if seq is None else positive("--seq", seq)
    conv = Convention(attention.value, "matmul", macs)
    report = build(arch, Workload(seq=s), conv)
    sections = param_steps(arch, report.params) + flop_steps(arch, report.flops.forward, s, conv)
    title = f"{arch.name}: d_model {arch.d_model:,}, {arch.n_layers} layers, {arch.n_heads} heads of {arch.head_dim}"
    if plain:
        lines = [title]
        for name, steps in sections:
            lines += ["", f"{name}:"] + [f"  {st.text} = {st.factors} = {_num(st.result)}" for st in steps]
        emit("\n".join(lines) + "\n")
        return
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    parts = [Text(title, style="bold")]
    for name, steps in sections:
        t = Table(title=name, title_justify="left", show_header=False, box=None, pad_edge=False)
        t.add_column(overflow="fold")
        t.add_column(justify="right", overflow="fold")
        t.add_column(justify="right", no_wrap=True, style="bold")
        for st in steps:
            t.add_row(st.text, f"= {st.factors}", f"= {_num(st.result)}")
        parts += [Text(""), t]
    stdout().print(Group(*parts))


def _num(x) -> str:
    return f"{x:,}" if isinstance(x, int) else f"{x}%"
