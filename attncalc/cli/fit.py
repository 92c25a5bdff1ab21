"""`attncalc fit MODEL …`: will it train, will it serve? The memory per GPU and a verdict.

Exit 0 when every budget holds, 1 naming each that fails (CI), 2 on bad input.
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Optional

import typer

from . import app
from .common import Format, emit, handles_errors
from .options import Length, Model, Sets, load


class RecomputeMode(str, Enum):
    none = "none"
    selective = "selective"
    full = "full"


def _opt(flag: str, help: str, *alias: str):
    return typer.Option(flag, *alias, help=help, show_default=False)


Bytes = Optional[str]


@app.command(epilog="Examples: attncalc fit llama-2-70b --tp 8 --pp 4 --dp 16 --zero 1 --recompute selective "
                    "--sequence-parallel --gpu-memory 80GiB · attncalc fit llama-3-8b --serve --context 32768 "
                    "--batch 8 --quant int4-g128 --gpu-memory 24GiB · attncalc fit llama-2-7b --lora 8 "
                    "--lora-targets q_proj,v_proj --quant nf4-dq --gpu-memory 24GB --format json")
@handles_errors
def fit(
    model: Model,
    fmt: Format = typer.Option(Format.table, "--format", "-f", help="table, markdown, json or csv."),
    serve: Annotated[bool, _opt("--serve", "Serving: weights + KV cache + prefill peak (instead of training).")] = False,
    train: Annotated[bool, _opt("--train", "Training (the default); with --serve, both.")] = False,
    seq: Length("--seq", "Training tokens per sequence (default: n_ctx).", "-s") = None,
    micro_batch: Length("--micro-batch", "Training micro-batch size (sequences).", optional=False) = 1,
    tp: Annotated[int, typer.Option("--tp", help="Tensor-parallel degree.")] = 1,
    pp: Annotated[int, typer.Option("--pp", help="Pipeline stages.")] = 1,
    dp: Annotated[int, typer.Option("--dp", help="Data-parallel degree.")] = 1,
    ep: Annotated[int, typer.Option("--ep", help="Expert-parallel degree (divides dp × cp).")] = 1,
    cp: Annotated[int, typer.Option("--cp", help="Context-parallel degree (splits the sequence).")] = 1,
    zero: Annotated[int, typer.Option("--zero", help="ZeRO stage 0-3 over the data-parallel ranks.")] = 0,
    optimizer: Annotated[str, typer.Option("--optimizer", help="adam, adam-fp32-grads, adam-distributed, adam-8bit, sgd-momentum, muon, adam-fp32.")] = "adam",
    recompute: Annotated[RecomputeMode, typer.Option("--recompute", help="Activation recomputation: none, selective or full.")] = RecomputeMode.none,
    sequence_parallel: Annotated[bool, typer.Option("--sequence-parallel", help="Megatron sequence parallelism (with --tp).")] = False,
    flash: Annotated[bool, typer.Option("--flash/--no-flash", help="FlashAttention: no S × S scores kept (training default off, serving on).")] = False,
    dropout: Annotated[bool, typer.Option("--dropout/--no-dropout", help="Dropout masks kept (Korthikanti's assumption; off for most LLMs today).")] = True,
    capacity_factor: Annotated[str, typer.Option("--capacity-factor", help="MoE capacity factor (tokens per expert slot).")] = "1",
    virtual_stages: Annotated[Optional[int], _opt("--virtual-stages", "Interleaved 1F1B: model chunks per pipeline stage.")] = None,
    micro_batches: Annotated[Optional[int], _opt("--micro-batches", "Micro-batches per step (fewer than --pp holds fewer in flight).")] = None,
    batch: Length("--batch", "Serving: concurrent sequences.", "-b", optional=False) = 1,
    context: Length("--context", "Serving: tokens in the KV cache (default: n_ctx).", "-c") = None,
    kv_dtype: Annotated[str, typer.Option("--kv-dtype", help="Serving: KV cache dtype.")] = "bf16",
    prefill_chunk: Length("--prefill-chunk", "Serving: tokens per prefill chunk (default: the context).") = None,
    quant: Annotated[Optional[str], _opt("--quant", "Weights format: bf16, int4-g128, int8, fp8, fp8-block128, mxfp4, nvfp4, nf4, nf4-dq…")] = None,
    quant_keep: Annotated[str, typer.Option("--quant-keep", help="Format of embeddings, unembedding, norms, biases, routers.")] = "bf16",
    quant_part: Annotated[Optional[list[str]], _opt("--quant-part", "Override one part: router=fp8 (repeatable).")] = None,
    lora: Annotated[Optional[int], _opt("--lora", "Fine-tune LoRA adapters of this rank (base frozen; --quant for QLoRA).")] = None,
    lora_targets: Annotated[str, typer.Option("--lora-targets", help="Comma-separated: q_proj,v_proj · query_key_value · all-linear …")] = "q_proj,v_proj",
    allowance: Annotated[Bytes, _opt("--allowance", "Memory set aside per GPU for buffers/fragmentation, with its unit (e.g. 2GiB).")] = None,
    gpu_memory: Annotated[Bytes, _opt("--gpu-memory", "Memory per GPU, the budget, with its unit (80GiB, 80GB; a bare number is refused).", "--max-memory-per-gpu")] = None,
    hw: Annotated[Optional[str], _opt("--hw", "Take the budget (memory per GPU) from this hardware: a name of `attncalc list-hw` (h100, a100, mi300x…) or a TOML file; --gpu-memory wins.")] = None,
    max_activation_memory: Annotated[Bytes, _opt("--max-activation-memory", "Fail above these training activation bytes per GPU.")] = None,
    min_context: Annotated[Optional[str], _opt("--min-context", "Serving: fail unless this context fits at --batch (32k = 32,768).")] = None,
    framework: Annotated[str, typer.Option("--framework", help="Training accounting: megatron (Korthikanti et al., all resident at once) or pytorch-autocast (the step's peak as PyTorch measures it: fp32 weights, bf16 autocast, transformers, fused AdamW; one GPU).")] = "megatron",
    sets: Sets = None,
) -> None:
    """Memory per GPU for training (activations per tensor, ZeRO, parallelism, optimizer) or serving
    (weights, KV cache, prefill), with a verdict: exit 1 when a budget fails."""
    from ..core.memory.activations import ActivationSettings
    from ..core.memory.lora import LoraSetup
    from ..core.memory.plan import MemorySettings, memory_plan
    from ..core.memory.quant import QuantScheme, parse_format, parse_overrides
    from ..core.memory.serving import ServingSetup
    from ..core.memory.layout import Parallelism
    from ..errors import WorkloadError
    from ..units import parse_bytes, parse_length

    def qty(flag: str, v: str | None) -> int | None:
        """A memory size (a unit required: a bare 80 is not 80 bytes), or --min-context (32k = 32,768)."""
        if v is None:
            return None
        try:
            return parse_length(v, what="token count") if "context" in flag else parse_bytes(v, what="memory size")
        except ValueError as err:
            raise WorkloadError(f"{flag}: {err}") from None

    arch = load(model, sets)
    _check_sizes(arch, seq=seq, micro_batch=micro_batch, batch=batch, context=context, prefill_chunk=prefill_chunk,
                 pp=pp, virtual_stages=virtual_stages, micro_batches=micro_batches, tp=tp, dp=dp, ep=ep, cp=cp,
                 lora=lora)
    cf = _capacity_factor(capacity_factor)
    scheme = None
    if quant is not None or quant_part:
        parse_format(quant or "bf16"), parse_format(quant_keep)
        scheme = QuantScheme(quant or "bf16", quant_keep, parse_overrides(quant_part))
    do_train = train or not serve
    par = Parallelism(dp, tp, pp, ep, cp, zero)
    acts = ActivationSettings(seq=arch.n_ctx if seq is None else seq, micro_batch=micro_batch, tp=tp, pp=pp, cp=cp,
                              sequence_parallel=sequence_parallel, recompute=recompute.value, flash=flash,
                              dropout=dropout, capacity_factor=cf, virtual_stages=virtual_stages,
                              micro_batches=micro_batches)
    serving = ServingSetup(batch=batch, context=arch.n_ctx if context is None else context, tp=tp, pp=pp,
                           kv_dtype=kv_dtype, prefill_chunk=prefill_chunk, flash=True)
    budget = qty("--gpu-memory", gpu_memory)
    if hw is not None and budget is None:  # the GPU's memory from the hardware table (list-hw)
        from .time import resolve_hardware

        part = resolve_hardware(hw)
        if not part.memory_bytes:
            raise WorkloadError(f"--hw {hw}: the hardware file gives no memory_bytes; use --gpu-memory")
        budget = part.memory_bytes
    settings = MemorySettings(train=do_train, serve=serve, parallel=par, activations=acts, optimizer=optimizer,
                              allowance=qty("--allowance", allowance) or 0, quant=scheme,
                              lora=LoraSetup(lora, tuple(t for t in lora_targets.split(",") if t)) if lora is not None else None,
                              serving=serving, gpu_memory=budget)
    if lora is not None and not do_train:
        raise WorkloadError("--lora describes fine-tuning: use it without --serve (or with --train)")
    if max_activation_memory is not None and not do_train:
        raise WorkloadError("--max-activation-memory needs training (drop --serve, or add --train)")
    if min_context is not None and not serve:
        raise WorkloadError("--min-context is a serving budget: add --serve")
    plan = memory_plan(arch, settings)
    from ..core.budgets import Limit, Results, evaluate
    from ..core.report import build

    limits = {}
    if budget is not None:
        given = "--gpu-memory" if gpu_memory is not None else f"--hw {hw}"
        limits |= {"max_memory_per_gpu": Limit(budget, None, given)} if do_train else {}
        limits |= {"max_serving_memory_per_gpu": Limit(budget, None, given)} if serve else {}
    if max_activation_memory is not None:
        limits["max_activation_memory"] = Limit(qty("--max-activation-memory", max_activation_memory), None,
                                                "--max-activation-memory")
    if min_context is not None:
        if budget is None:
            raise WorkloadError("--min-context needs --gpu-memory (the memory the context must fit in)")
        limits["min_context"] = Limit(qty("--min-context", min_context), None, "--min-context")
    outcomes = evaluate(Results(build(arch), plan), limits)
    verdict = {"ok": all(o.ok for o in outcomes), "budgets": [o.as_dict() for o in outcomes]}
    peak = _peak(arch, acts, optimizer, framework) if do_train else None
    if fmt in (Format.json, Format.csv):
        from ..present.document import SCHEMA_VERSION, to_csv, to_json
        from ..present.memory_document import memory_document

        full = {"schema_version": SCHEMA_VERSION, "model": arch.name, **memory_document(plan), "verdict": verdict}
        if peak is not None:
            from ..present.peak_sections import peak_document

            full["memory"]["peak"] = peak_document(peak)
        emit(to_json(full) if fmt is Format.json else to_csv(full))
    else:
        from ..present.memory_sections import memory_sections
        from ..present.terminal import print_sections, sections_markdown

        header = [f"{arch.name}: memory per GPU" + (" (training" + (" + serving)" if serve else ")") if do_train else " (serving)")]
        header += [_verdict_line(outcomes)]
        sections = memory_sections(plan)
        if peak is not None:
            from ..present.peak_sections import peak_sections

            sections = list(sections) + peak_sections(peak)
        if fmt is Format.markdown:
            emit(sections_markdown(header, sections))
        else:
            print_sections(header, sections)
    if not verdict["ok"]:
        raise typer.Exit(1)


def _check_sizes(arch, *, pp: int, virtual_stages: int | None, **sizes: int | None) -> None:
    """Input bounds the memory plan cannot see: sizes are integers in [1, 2**63 - 1] (--context may
    be 0), and an interleaved schedule (--virtual-stages v) gives each of the pp x v model chunks the
    same whole number of layers (Megatron-LM's rule), so v cannot exceed the layers of a stage."""
    from ..core.workload import positive
    from ..errors import WorkloadError

    for name, v in sizes.items():
        if v is not None:
            positive("--" + name.replace("_", "-"), v, 0 if name == "context" else 1)
    positive("--pp", pp)
    if virtual_stages is not None:
        positive("--virtual-stages", virtual_stages)
        if virtual_stages > 1 and arch.n_layers % (pp * virtual_stages):
            raise WorkloadError(f"--virtual-stages {virtual_stages}: the interleaved schedule splits the "
                                f"{arch.n_layers} layers into pp x v = {pp * virtual_stages} chunks of equal size; "
                                f"{pp * virtual_stages} does not divide {arch.n_layers}")


def _capacity_factor(text: str):
    """--capacity-factor, exactly (1.25 is 5/4): positive, at most 1,000 (a factor past the experts'
    count only adds empty slots)."""
    from ..errors import WorkloadError
    from ..units import parse_number

    try:
        cf = parse_number(text, what="capacity factor")
    except ValueError as err:
        raise WorkloadError(f"--capacity-factor: {err}") from None
    if not 0 < cf <= 1000:
        raise WorkloadError(f"--capacity-factor must be above 0 and at most 1,000, got {text.strip()}")
    return cf


def _verdict_line(outcomes) -> str:
    from ..present.checks import fmt

    if not outcomes:
        return "no budget given (--gpu-memory 80GiB for a verdict)"
    parts = [f"{'ok' if o.ok else 'FAIL'} {o.what} {fmt(o.actual, o.unit)} {o.relation} {fmt(o.limit, o.unit)}"
             for o in outcomes]
    return ("fits: " if all(o.ok for o in outcomes) else "does not fit: ") + "; ".join(parts)


# --- hook for issue 17 item 9 (core.memory.peak); the lead wires it into the plan and its budgets ---

def _peak(arch, acts, optimizer: str, framework: str):
    """The step's peak under ``--framework pytorch-autocast`` (None for the default accounting)."""
    from ..core.memory.peak import FRAMEWORKS, PeakSettings, peak_memory
    from ..errors import WorkloadError

    if framework == "megatron":
        return None
    if framework not in FRAMEWORKS:
        raise WorkloadError(f"--framework must be megatron or {', '.join(FRAMEWORKS)}, got {framework!r}")
    return peak_memory(arch, PeakSettings(activations=acts, framework=framework,
                                          optimizer={"adam": "adamw-fused"}.get(optimizer, optimizer)))
