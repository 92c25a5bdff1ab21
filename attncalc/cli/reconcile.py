"""`attncalc reconcile`: published training runs under their publishers' own MFU conventions,
reproduced to the printed digits, then under the exact causal count with the gap split into causes
(core/reconcile.py)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from . import app
from .common import Format, emit, handles_errors


def _pct(x) -> str:
    return f"{100 * float(x):.1f}%"


def _pp(x) -> str:
    return f"{100 * float(x):+.1f}"


def _doc(x) -> dict:
    f = float
    return {"id": x.id, "source": x.source, "model": x.model, "gpus": x.gpus, "step_s": f(x.step_s),
            "publisher_convention": x.convention, "printed": x.printed,
            "reproduced": {k: f(v) for k, v in x.reproduced.items()}, "reproduced_to_printed_digits": x.matches,
            "peak_used_flops": x.peak_used, "exact_mfu": f(x.exact_mfu),
            "chain": [{"count": c.label, "cause": c.cause, "flops_per_step": f(c.flops_per_step), "mfu": f(c.mfu)}
                      for c in x.chain], "notes": list(x.notes)}


@app.command("reconcile", epilog="Examples: attncalc reconcile · attncalc reconcile --id palm2022-palm-540b · "
                                 "attncalc reconcile --source korthikanti2022 --format json")
@handles_errors
def reconcile_command(
    run_id: Annotated[Optional[str], typer.Option("--id", help="One run of the registry (its id).", show_default=False)] = None,
    source: Annotated[Optional[str], typer.Option("--source", help="The runs of one source (e.g. korthikanti2022).", show_default=False)] = None,
    fmt: Format = typer.Option(Format.table, "--format", "-f", help="Output format."),
) -> None:
    """Published runs: each publisher's MFU under its own convention, reproduced, then the exact-count
    MFU and the gap split into causes (recomputation, formula terms, attention convention, peak)."""
    from ..core.reconcile import CONVENTIONS, reconcilable, reconcile
    from ..errors import WorkloadError
    from ..spec.runs import registry

    rows = [r for r in registry()["rows"] if reconcilable(r)]
    if source is not None:
        if source not in CONVENTIONS:
            raise WorkloadError(f"--source {source!r}: reconciled sources are {', '.join(CONVENTIONS)}")
        rows = [r for r in rows if r["source_id"] == source]
    if run_id is not None:
        rows = [r for r in rows if r["id"] == run_id]
        if not rows:
            raise WorkloadError(f"--id {run_id!r}: no such reconcilable run (`attncalc reconcile` lists them)")
    done = [reconcile(r) for r in rows]
    if fmt is Format.json:
        from ..present.document import SCHEMA_VERSION, to_json

        emit(to_json({"schema_version": SCHEMA_VERSION, "runs": [_doc(x) for x in done]}))
        return
    if fmt is Format.csv:
        from ..present.document import tabular_csv

        cols = ["id", "figure", "printed", "reproduced", "reproduced_to_printed_digits", "exact_mfu"]
        emit(tabular_csv(cols, [[x.id, k, x.printed[k], float(v), x.matches, float(x.exact_mfu)]
                                for x in done for k, v in x.reproduced.items()]))
        return
    from ..present.tables import APPROX, TEXT, Column, Para, Table, markdown, print_page

    causes = {"recomputation": "recompute", "attention": "attention", "formula": "formula", "peak": "peak"}
    t = Table("published MFU, reproduced under the publisher's convention, then the exact causal count",
              (Column("run", TEXT), Column("printed", APPROX), Column("ours", APPROX), Column("exact", APPROX),
               Column("recompute", APPROX, drop=3), Column("attention", APPROX, drop=2),
               Column("formula", APPROX, drop=1)), key="reconcile")
    for x in done:
        k = next((k for k in x.reproduced if "pct" in k), next(iter(x.reproduced)))
        unit = "%" if "pct" in k else " TF"
        digits = len(str(x.printed[k]).split(".")[1]) if "." in str(x.printed[k]) else 0
        steps = {c: "" for c in causes.values()}
        for prev, cur in zip(x.chain, x.chain[1:]):
            steps[next(v for c, v in causes.items() if cur.cause.startswith(c))] = _pp(cur.mfu - prev.mfu)
        ok = "" if x.matches else " *"
        t.add(x.id, f"{x.printed[k]}{unit}", f"{float(x.reproduced[k]):.{digits + 1}f}{unit}{ok}", _pct(x.exact_mfu),
              steps["recompute"], steps["attention"], steps["formula"])
    blocks = [t, Para("printed: the publisher's figure (% of peak, or TFLOP/s per GPU where none is printed); "
                      "ours: from its own formula and printed inputs, one digit more (*: not to the printed digits); exact: "
                      "attncalc's causal count, 3 x the forward with the logits, over the publisher's peak. Cause "
                      "columns: the MFU change, in percentage points, of each step from the publisher's count to the "
                      "exact one (`--format json` gives every step).", "dim")]
    emit(markdown(blocks)) if fmt is Format.markdown else print_page(blocks)
