"""`attncalc explain MODEL`: the arithmetic, step by step, every line a formula with its factors."""

from __future__ import annotations

import typer

from . import app
from .common import Format, emit, fail, handles_errors
from .options import Attention, AttentionMode, Macs, Model, Seq, Sets, Sparse, SparseMode, load


@app.command(epilog="Examples: attncalc explain gpt3 · attncalc explain llama-3-8b --seq 8192 · "
                    "attncalc explain gpt3 --format json")
@handles_errors
def explain(
    model: Model, seq: Seq = None, attention: Attention = AttentionMode.auto, macs: Macs = False,
    sets: Sets = None, sparse: Sparse = SparseMode.topk,
    plain: bool = typer.Option(False, "--plain", help="One line per step: text = factors = result (no columns)."),
    fmt: Format = typer.Option(Format.table, "--format", "-f",
                               help="table, json (steps as section, text, factors, result), csv or markdown."),
    hw: str = typer.Option(None, "--hw", help="Also one block's roofline arithmetic on this hardware: "
                           "FLOPs ÷ peak against bytes ÷ bandwidth, part by part.", show_default=False),
) -> None:
    """Write out the arithmetic: each matrix, a head, a block, all blocks, embeddings, the total, FLOPs."""
    from ..core.report import build
    from ..core.workload import Convention, Workload, positive
    from ..present.explain import flop_steps, param_steps

    if plain and fmt is not Format.table:
        raise fail(f"--plain is a table layout; drop it for --format {fmt.value}")
    arch = load(model, sets)
    s = arch.n_ctx if seq is None else positive("--seq", seq)
    conv = Convention(attention.value, "matmul", macs, sparse=sparse.value)
    report = build(arch, Workload(seq=s), conv)
    from ..present.mixers import mixer_steps

    sections = param_steps(arch, report.params) + mixer_steps(report) + flop_steps(arch, report.flops.forward, s, conv)
    from ..present.explain import explain_blocks, explain_document, explain_plain, explain_title

    title = explain_title(arch)
    if fmt is Format.json:
        from ..present.document import to_json

        emit(to_json(explain_document(arch, s, conv, sections)))
        return
    if plain:
        emit(explain_plain(title, sections))
        return
    from ..present.tables import csv, markdown, print_page

    blocks = explain_blocks(title, sections)
    if hw is not None:  # issue 12: the bound arithmetic of one block, prefill and one decode step
        from ..core.time.report import time_report
        from ..core.time.setup import Setup
        from ..present.roofline import explain_block
        from ..present.tables import TEXT, Column, Table
        from .time import resolve_hardware

        timing = time_report(arch, Setup(resolve_hardware(hw)), batch=1, seq=s, context=s, conv=conv)
        for which in ("prefill", "decode"):
            t = Table(f"{which} of one block on {timing.setup.hw.name}: max(FLOPs ÷ peak, bytes ÷ bandwidth), "
                      "a LOWER BOUND per part", (Column("part", TEXT), Column("compute", TEXT), Column("memory", TEXT)),
                      key=f"roofline_{which}")
            for row in explain_block(timing, which):
                t.add(*row)
            blocks.append(t)
    if fmt is Format.csv:
        emit(csv([b for b in blocks if hasattr(b, "columns")]))
    elif fmt is Format.markdown:
        emit(markdown(blocks))
    else:
        print_page(blocks)
