"""The peak of one training step (core.memory.peak.PeakMemory) as sections and as a JSON document."""

from __future__ import annotations

from typing import Any

from ..core.memory.peak import RULES, PeakMemory
from .sections import Row, Section


def _share(v: int, total: int) -> float | None:
    return v / total if total else None


def peak_sections(pm: PeakMemory) -> list[Section]:
    peak = pm.peak
    s = pm.settings
    st = s.activations
    conv = (f"framework {s.framework}: fp32 weights, bf16 autocast, {s.optimizer}, "
            f"{'flash' if st.flash else 'eager'} attention, dropout {'on' if st.dropout else 'off'}, "
            f"recompute {st.recompute}, use_cache {'on' if s.use_cache else 'off'}, outputs "
            f"{'kept' if s.keep_outputs else 'dropped'} before backward; {pm.implementation.source}")
    rows = [Row(p.name, p.moment, p.total, _share(p.total, peak.total), strong=p is peak) for p in pm.phases]
    out = [Section("Training step timeline (bytes, one GPU)", tuple(rows), conv, "bytes", "of peak")]
    rows = [Row(f"  {t.name}", t.rule, t.nbytes, _share(t.nbytes, peak.total)) for t in peak.terms if t.nbytes]
    rows.append(Row(f"peak: {peak.name}", peak.moment, peak.total, strong=True))
    used = sorted({t.rule for t in peak.terms if t.nbytes})
    note = "; ".join(f"{k}: {RULES[k]}" for k in used)
    out.append(Section(f"Peak terms ({peak.name})", tuple(rows), note, "bytes"))
    rows = [Row(f"  {k.kind}", f"{k.layers} layers × {k.per_layer:,} bytes", k.per_layer * k.layers) for k in pm.kinds]
    rows += [Row(f"  {t.name}", f"{t.part}: {t.rule}", t.nbytes) for t in pm.ends]
    note = "; ".join(pm.approximate) if pm.approximate else ""
    out.append(Section("Saved for the backward pass, by block kind (bytes)", tuple(rows), note, "bytes"))
    return out


def peak_document(pm: PeakMemory) -> dict[str, Any]:
    """memory.peak: {framework, settings, total, phase, phases[], kinds[], ends[], rules, approximate}."""
    peak = pm.peak
    used = sorted({t.rule for p in pm.phases for t in p.terms} | {t.rule for k in pm.kinds for t in k.tensors}
                  | {t.rule for t in pm.ends})
    return {
        "framework": pm.settings.framework,
        "settings": pm.settings.as_dict(),
        "implementation": pm.implementation.source,
        "total": peak.total,
        "phase": peak.name,
        "params": pm.params,
        "phases": [{"name": p.name, "moment": p.moment, "total": p.total,
                    "terms": [{"name": t.name, "bytes": t.nbytes, "rule": t.rule} for t in p.terms]}
                   for p in pm.phases],
        "kinds": [{"name": k.kind, "layers": k.layers, "per_layer": k.per_layer, "weight_copies": k.weight_copies,
                   "tensors": [{"name": t.name, "part": t.part, "bytes": t.nbytes, "rule": t.rule} for t in k.tensors]}
                  for k in pm.kinds],
        "ends": [{"name": t.name, "part": t.part, "bytes": t.nbytes, "rule": t.rule} for t in pm.ends],
        "rules": {k: RULES[k] for k in used},
        "approximate": list(pm.approximate),
    }
