"""The `fit` report as sections (rows of exact bytes), drawn from the typed ``MemoryPlan``."""

from __future__ import annotations

from fractions import Fraction

from ..core.memory.activations import whole
from ..core.memory.plan import MemoryPlan
from ..core.memory.serving import LIMIT
from ..units import plural
from .sections import Row, Section


def _share(v: int, total: int) -> float | None:
    return v / total if total else None


def _count(x: Fraction) -> int | str:
    """A whole count as an int (for ``plural``), a fraction as p/q."""
    return x.numerator if x.denominator == 1 else _num(x)


def _num(x: Fraction) -> str:
    return f"{x.numerator}" if x.denominator == 1 else f"{x.numerator}/{x.denominator}"


def memory_sections(plan: MemoryPlan) -> list[Section]:
    out = []
    acts = plan.activations
    if acts is not None:
        st, per, peak = acts.settings, whole(acts.per_block), acts.peak
        rows = [Row(f"  {t.name}", t.formula.split(" (")[0], whole(t.nbytes), _share(whole(t.nbytes), per))
                for t in acts.tensors]
        rows.append(Row("per block", "sum of the kept tensors (one micro-batch, one GPU)", per, strong=True))
        for t in acts.embedding_tensors + acts.output_tensors:
            rows.append(Row(f"  {t.name}", f"{t.part}: {t.formula.split(' (')[0]}", whole(t.nbytes)))
        for s in acts.stages:
            rows.append(Row(f"stage {s.stage}", f"{plural(_count(s.in_flight), 'micro-batch', 'micro-batches')} in flight × "
                            f"{plural(s.blocks, 'block')}"
                            + (" + embedding" if s.embedding else "") + (" + output layer" if s.output else "")
                            + (" + one block rematerialised" if s.recompute_working_set else ""),
                            whole(s.total), strong=s.stage == peak.stage))
        note = (f"s={st.seq} b={st.micro_batch} t={st.tp} p={st.pp} cp={st.cp} "
                f"SP={'on' if st.sequence_parallel else 'off'} recompute={st.recompute} "
                f"flash={'on' if st.flash else 'off'} dropout={'on' if st.dropout else 'off'}; "
                "Korthikanti et al. 2022 Table 2, per named tensor")
        out.append(Section("Training activations (bytes)", tuple(rows), note, "bytes"))
    pg = plan.per_gpu
    if pg is not None:
        peak = pg.peak
        tot = peak.total
        base = f", frozen base in {pg.base_format} + adapters" if pg.base_format else ""
        rows = [Row(k, how, v, _share(v, tot)) for k, how, v in (
            ("weights", "working copy" + base, peak.weights),
            ("gradients", "sharded from ZeRO-2" if pg.parallel.zero >= 2 else "replicated over data-parallel ranks",
             peak.gradients),
            ("optimizer", pg.optimizer.source, peak.optimizer),
            ("activations", f"stage {peak.stage}, the most loaded", peak.activations),
            ("allowance", pg.allowance_name, peak.allowance))]
        rows.append(Row("total per GPU", "the most-loaded GPU", tot, strong=True))
        if plan.budget is not None:
            rows.append(Row("budget", "--gpu-memory", plan.budget))
        p = pg.parallel
        note = (f"dp={p.dp} tp={p.tp} pp={p.pp} ep={p.ep} cp={p.cp} ZeRO-{p.zero} "
                f"({plural(p.world, 'GPU')}); optimizer {pg.optimizer.name}: {pg.optimizer.bytes_per_param} bytes/param")
        out.append(Section("Training memory per GPU (bytes)", tuple(rows), note, "bytes"))
    sv = plan.serving
    if sv is not None:
        g, s = sv.per_gpu, sv.setup
        holds = ("the whole latent cache (replicated)" if g.kv_heads_per_gpu is None
                 else f"{plural(g.kv_heads_per_gpu, 'KV head')} per GPU")
        rows = [Row("weights", f"{s.quant.matrices}, split over tp={s.tp}", g.weights, _share(g.weights, g.total)),
                Row("KV cache", f"batch {s.batch} × context {s.context:,}; {holds}", g.kv_cache,
                    _share(g.kv_cache, g.total)),
                Row("activations", f"prefill chunk {g.prefill.chunk:,}: residual + {g.prefill.largest} + last logits",
                    g.activations, _share(g.activations, g.total)),
                Row("allowance", "buffers, fragmentation, CUDA context", g.allowance),
                Row("total per GPU", "", g.total, strong=True)]
        if sv.memory is not None:
            rows.append(Row("budget", "--gpu-memory", sv.memory))

            def why(v: int | None) -> str:
                return " (unbounded)" if v == LIMIT else (" (none: not even 1 fits)" if v is None else "")

            def shown(v: int | None) -> int | None:
                return None if v in (None, LIMIT) else v

            rows.append(Row("max context", f"at batch {s.batch}{why(sv.max_context)}", shown(sv.max_context), unit="count"))
            rows.append(Row("max batch", f"at context {s.context:,}{why(sv.max_batch)}", shown(sv.max_batch), unit="count"))
        out.append(Section("Serving memory per GPU (bytes)", tuple(rows), "", "bytes"))
    q = plan.quantization
    if q is not None:
        bpw, blk = q.bits_per_weight, q.bits_per_weight_per_block
        rows = [Row("weights", f"{q.scheme.matrices} matrices, {q.scheme.keep} kept parts", q.bytes),
                Row("per block", f"{float(blk):.4f} bits per weight" if blk else "", q.bytes_per_block),
                Row("bits per weight", f"{bpw.numerator:,}/{bpw.denominator:,} ≈ {float(bpw):.4f}", None)]
        out.append(Section("Quantized weights (bytes, scales included)", tuple(rows), q.formats["matrix"], "bytes"))
    lora = plan.lora
    if lora is not None:
        rows = [Row(f"  {k}", f"r × (d_in + d_out) = {lora.rank} × ({m.d_in:,} + {m.d_out:,})"
                    + (f" × {m.copies_per_block} experts" if m.copies_per_block > 1 else ""), m.params)
                for k, m in lora.per_matrix.items()]
        rows += [Row("per block", "", lora.per_block),
                 Row("trainable", "Σ over block kinds of layers × adapters per layer", lora.total, strong=True),
                 Row("all params", "base + adapters (peft's 'all params')", lora.all_params),
                 Row("trainable share", f"{float(lora.trainable_share * 100):.6f}%", None)]
        if plan.lora_flops is not None:
            rows.append(Row("step FLOPs", plan.lora_flops.convention, plan.lora_flops.step, unit="flops"))
        out.append(Section("LoRA adapters (parameters)", tuple(rows), f"targets: {', '.join(lora.targets)}", "count"))
    return out
