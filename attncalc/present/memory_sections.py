"""The `fit` report as sections (rows of exact bytes), drawn from ``memory_document``."""

from __future__ import annotations

from typing import Any

from ..units import plural
from .sections import Row, Section


def _share(v: int, total: int) -> float | None:
    return v / total if total else None


def memory_sections(doc: dict[str, Any]) -> list[Section]:
    mem, out = doc["memory"], []
    acts = mem.get("activations")
    if acts:
        st = acts["settings"]
        per = acts["per_block"]
        rows = [Row(f"  {name}", t["formula"].split(" (")[0], t["bytes"], _share(t["bytes"], per)) for name, t in acts["tensors"].items()]
        rows.append(Row("per block", "sum of the kept tensors (one micro-batch, one GPU)", per, strong=True))
        for name, t in {**acts["embedding"], **acts["output"]}.items():
            rows.append(Row(f"  {name}", f"{t['part']}: {t['formula'].split(' (')[0]}", t["bytes"]))
        for s in acts["stages"]:
            rows.append(Row(f"stage {s['stage']}", f"{plural(s['in_flight'], 'micro-batch', 'micro-batches')} in flight × "
                            f"{plural(s['blocks'], 'block')}"
                            + (" + embedding" if s["embedding"] else "") + (" + output layer" if s["output"] else "")
                            + (" + one block rematerialised" if s["recompute_working_set"] else ""),
                            s["total"], strong=s["stage"] == acts["most_loaded_stage"]))
        note = (f"s={st['seq']} b={st['micro_batch']} t={st['tp']} p={st['pp']} cp={st['cp']} "
                f"SP={'on' if st['sequence_parallel'] else 'off'} recompute={st['recompute']} "
                f"flash={'on' if st['flash'] else 'off'} dropout={'on' if st['dropout'] else 'off'}; "
                "Korthikanti et al. 2022 Table 2, per named tensor")
        out.append(Section("Training activations (bytes)", tuple(rows), note, "bytes"))
    pg = mem.get("per_gpu")
    if pg:
        tot = pg["total"]
        rows = [Row(k, how, pg[k], _share(pg[k], tot)) for k, how in (
            ("weights", "working copy" + (f", frozen base in {pg['base_format']} + adapters" if "base_format" in pg else "")),
            ("gradients", "sharded from ZeRO-2" if pg["parallel"]["zero"] >= 2 else "replicated over data-parallel ranks"),
            ("optimizer", pg["optimizer_preset"]["source"]),
            ("activations", f"stage {pg['most_loaded_stage']}, the most loaded"),
            ("allowance", pg["allowance_name"]))]
        rows.append(Row("total per GPU", "the most-loaded GPU", tot, strong=True))
        if pg.get("budget") is not None:
            rows.append(Row("budget", "--gpu-memory", pg["budget"]))
        p = pg["parallel"]
        note = (f"dp={p['dp']} tp={p['tp']} pp={p['pp']} ep={p['ep']} cp={p['cp']} ZeRO-{p['zero']} "
                f"({plural(p['gpus'], 'GPU')}); optimizer {pg['optimizer_preset']['name']}: "
                f"{pg['optimizer_preset']['bytes_per_param']} bytes/param")
        out.append(Section("Training memory per GPU (bytes)", tuple(rows), note, "bytes"))
    sv = mem.get("serving")
    if sv:
        g = sv["per_gpu"]
        s = sv["settings"]
        holds = ("the whole latent cache (replicated)" if sv["kv_heads_per_gpu"] is None
                 else f"{plural(sv['kv_heads_per_gpu'], 'KV head')} per GPU")
        rows = [Row("weights", f"{s['weights']}, split over tp={s['tp']}", g["weights"], _share(g["weights"], g["total"])),
                Row("KV cache", f"batch {s['batch']} × context {s['context']:,}; {holds}",
                    g["kv_cache"], _share(g["kv_cache"], g["total"])),
                Row("activations", f"prefill chunk {s['prefill_chunk']:,}: residual + {sv['prefill_peak']['largest']} + last logits",
                    g["activations"], _share(g["activations"], g["total"])),
                Row("allowance", "buffers, fragmentation, CUDA context", g["allowance"]),
                Row("total per GPU", "", g["total"], strong=True)]
        if sv["memory"] is not None:
            rows.append(Row("budget", "--gpu-memory", sv["memory"]))
            mc, mb = sv["max_context"], sv["max_batch"]
            def why(v):
                return " (unbounded)" if v == "unbounded" else (" (none: not even 1 fits)" if v is None else "")

            rows.append(Row("max context", f"at batch {s['batch']}{why(mc)}", mc if isinstance(mc, int) else None, unit="count"))
            rows.append(Row("max batch", f"at context {s['context']:,}{why(mb)}", mb if isinstance(mb, int) else None, unit="count"))
        out.append(Section("Serving memory per GPU (bytes)", tuple(rows), "", "bytes"))
    q = mem.get("quantization")
    if q:
        bpw, blk = q["bits_per_weight"], q["bits_per_weight_per_block"]
        rows = [Row("weights", f"{q['scheme']['matrices']} matrices, {q['scheme']['keep']} kept parts", q["bytes"]),
                Row("per block", f"{blk['approx']:.4f} bits per weight" if blk else "", q["bytes_per_block"]),
                Row("bits per weight", f"{bpw['numerator']:,}/{bpw['denominator']:,} ≈ {bpw['approx']:.4f}", None)]
        out.append(Section("Quantized weights (bytes, scales included)", tuple(rows), q["formats"]["matrix"], "bytes"))
    lora = doc.get("params", {}).get("lora")
    if lora:
        rows = [Row(f"  {k}", f"r × (d_in + d_out) = {lora['rank']} × ({m['d_in']:,} + {m['d_out']:,})"
                    + (f" × {m['copies_per_block']} experts" if m["copies_per_block"] > 1 else ""), m["params"])
                for k, m in lora["per_matrix"].items()]
        rows += [Row("per block", "", lora["per_block"]), Row("trainable", f"{lora['per_block']:,} × n_layers", lora["total"], strong=True),
                 Row("all params", "base + adapters (peft's 'all params')", lora["all_params"]),
                 Row("trainable share", f"{lora['trainable_share']['percent']:.6f}%", None),
                 Row("step FLOPs", lora["flops"]["convention"], lora["flops"]["step"], unit="flops")]
        out.append(Section("LoRA adapters (parameters)", tuple(rows), f"targets: {', '.join(lora['targets'])}", "count"))
    return out
