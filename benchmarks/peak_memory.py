"""The peak memory of a training step against the three peaks measured on one H200 (issue 17): the
figures of the README's "Peak of a training step" paragraph.

    python benchmarks/peak_memory.py            # a Markdown table, then each peak's terms
    python benchmarks/peak_memory.py --json     # the same figures as JSON

Pure arithmetic: each row is ``core.memory.peak`` (framework pytorch-autocast) with the settings of
its measured run, beside the Korthikanti accounting ``fit`` prints by default
(``attncalc fit MODEL --format json``: memory.per_gpu.total, with fit's bf16-weights Adam preset).
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
from dataclasses import replace
from pathlib import Path

from attncalc.core.memory.activations import ActivationSettings
from attncalc.core.memory.peak import PeakSettings, peak_memory
from attncalc.spec.load import load_model
from attncalc.units import human_bytes

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden" / "memory" / "h200_peaks.json"


def fit_total(row: dict) -> int:
    """What `attncalc fit` reports with the Korthikanti accounting, run as issue 17 ran it."""
    from attncalc.cli import main

    argv = ["fit", row["model"], "--seq", str(row["seq"]), "--micro-batch", str(row["micro_batch"]),
            "--recompute", row["recompute"], *row["fit_flags_as_filed"], "--format", "json"]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            main(argv)
        except SystemExit:
            pass
    return json.loads(out.getvalue())["memory"]["per_gpu"]["total"]


def figures() -> list[dict]:
    rows = []
    for row in json.loads(GOLDEN.read_text())["rows"]:
        st = ActivationSettings(seq=row["seq"], micro_batch=row["micro_batch"], recompute=row["recompute"],
                                flash=row["flash"], dropout=row["dropout"])
        pm = peak_memory(load_model(row["model"]), PeakSettings(activations=st))
        fit = fit_total(row)
        as_filed = None
        if "attention_as_filed" in row:  # the run as the issue filed it: eager attention
            pm_eager = peak_memory(load_model(row["model"]), PeakSettings(activations=replace(st, flash=False)))
            as_filed = {"predicted": pm_eager.total, "ratio": pm_eager.total / row["measured_bytes"]}
        rows.append({"as_filed_eager": as_filed, "name": row["name"], "model": row["model"], "measured": row["measured_bytes"],
                     "predicted": pm.total, "ratio": pm.total / row["measured_bytes"], "phase": pm.peak.name,
                     "fit_korthikanti": fit, "fit_ratio": fit / row["measured_bytes"],
                     "terms": [(t.name, t.nbytes, t.rule) for t in pm.peak.terms if t.nbytes]})
    return rows


def main() -> None:
    rows = figures()
    if "--json" in sys.argv:
        print(json.dumps(rows, indent=1))
        return
    print("| run | measured | predicted (phase) | predicted ÷ measured | fit (Korthikanti, as filed) ÷ measured |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['name']} | {r['measured']:,} | {r['predicted']:,} ({r['phase']}) | {r['ratio']:.4f} "
              f"| {r['fit_ratio']:.2f} |")
    for r in rows:
        if r["as_filed_eager"]:
            e = r["as_filed_eager"]
            print(f"\n{r['name']} with eager attention, as filed: {e['predicted']:,} predicted, "
                  f"{e['ratio']:.2f} × the measurement")
    for r in rows:
        print(f"\n{r['name']}: {r['phase']}, {human_bytes(r['predicted'])}")
        for name, n, rule in r["terms"]:
            print(f"    {name:<60} {n:>16,}  {rule}")


if __name__ == "__main__":
    main()
