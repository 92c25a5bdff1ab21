"""`attncalc sweep MODEL --hw NAME --gpus N`: every parallel layout of a model on a cluster, weighed
with `fit`'s arithmetic, timed with the step-time model, ranked; `--serve` for serving layouts."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from . import app
from .common import Format, emit, handles_errors
from .options import Length, Model, Sets, load

DEFAULT_TOKENS_PER_STEP = 1 << 22  # 4M tokens per step (Llama 3 pre-training started at 4M: Dubey et al. 2024 sec. 3.4.1)
DEFAULT_SEQ = 8192  # Llama 3's pre-training sequence (Dubey et al. 2024 sec. 3.4.1)


def _opt(flag: str, help: str, *alias: str):
    return typer.Option(flag, *alias, help=help, show_default=False)


def _ints(flag: str, text: str | None, allowed: tuple | None = None) -> tuple[int, ...] | None:
    from ..errors import WorkloadError

    if text is None:
        return None
    try:
        values = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise WorkloadError(f"{flag}: expected comma-separated integers such as 1,2, got {text!r}") from None
    if not values or (allowed is not None and any(v not in allowed for v in values)):
        raise WorkloadError(f"{flag}: expected values among {', '.join(map(str, allowed or ()))}, got {text!r}")
    return values


@app.command(epilog="Examples: attncalc sweep gpt3 --hw h100-sxm --gpus 1024 --global-batch 1536 --seq 2048 · "
                    "attncalc sweep llama-3.1-405b --hw h100-sxm --gpus 8192 --global-batch 2048 --seq 8192 --workers 2 · "
                    "attncalc sweep mixtral-8x7b --hw h200 --gpus 64 --format json · "
                    "attncalc sweep llama-3.1-70b --hw h200 --gpus 16 --serve --context 8192")
@handles_errors
def sweep(
    model: Model,
    hw: Annotated[str, typer.Option("--hw", "--hardware", help="The GPU: a name (`attncalc list-hw`) or a TOML file; its memory is the budget.")],
    gpus: Annotated[int, typer.Option("--gpus", help="GPUs in all: tp x pp x dp x cp.")],
    fmt: Format = typer.Option(Format.table, "--format", "-f", help="table, markdown, json or csv."),
    global_batch: Annotated[Optional[int], _opt("--global-batch", "Sequences per optimizer step (default: 4M tokens per step).")] = None,
    seq: Length("--seq", "Tokens per training sequence (default: the model's n_ctx, at most 8,192).", "-s") = None,
    optimizer: Annotated[str, typer.Option("--optimizer", help="adam, adam-fp32-grads, adam-distributed, adam-8bit, sgd-momentum, muon, adam-fp32.")] = "adam",
    recompute: Annotated[str, typer.Option("--recompute", help="Recomputation to try: none,selective,full (comma-separated).")] = "none,selective,full",
    zero: Annotated[str, typer.Option("--zero", help="ZeRO stages to try (comma-separated).")] = "0,1,2,3",
    sequence_parallel: Annotated[str, typer.Option("--sequence-parallel", help="With tp > 1: on, off or both.")] = "both",
    tp: Annotated[Optional[int], _opt("--tp", "Hold tensor parallelism to this degree.")] = None,
    pp: Annotated[Optional[int], _opt("--pp", "Hold pipeline parallelism to this degree.")] = None,
    dp: Annotated[Optional[int], _opt("--dp", "Hold data parallelism to this degree.")] = None,
    ep: Annotated[Optional[int], _opt("--ep", "Hold expert parallelism to this degree.")] = None,
    cp: Annotated[Optional[int], _opt("--cp", "Hold context parallelism to this degree.")] = None,
    micro_batch: Annotated[Optional[int], _opt("--micro-batch", "Hold the micro-batch to this size.")] = None,
    virtual_stages: Annotated[Optional[int], _opt("--virtual-stages", "Hold the virtual stages (model chunks per stage) to this number.")] = None,
    max_tp: Annotated[Optional[int], _opt("--max-tp", "Largest tensor-parallel degree (default: the GPUs of one node, 8 if unknown).")] = None,
    max_cp: Annotated[Optional[int], _opt("--max-cp", "Largest context-parallel degree.")] = None,
    max_micro_batch: Annotated[Optional[int], _opt("--max-micro-batch", "Largest micro-batch.")] = None,
    max_virtual_stages: Annotated[int, typer.Option("--max-virtual-stages", help="Most model chunks per pipeline stage.")] = 8,
    flash: Annotated[bool, typer.Option("--flash/--no-flash", help="FlashAttention: no S x S scores kept (memory).")] = True,
    dropout: Annotated[bool, typer.Option("--dropout/--no-dropout", help="Dropout masks kept (memory; off for most LLMs today).")] = False,
    capacity_factor: Annotated[str, typer.Option("--capacity-factor", help="MoE capacity factor (memory).")] = "1",
    allowance: Annotated[Optional[str], _opt("--allowance", "Memory set aside per GPU (e.g. 4GiB): buffers, fragmentation, the CUDA context.")] = None,
    gpu_memory: Annotated[Optional[str], _opt("--gpu-memory", "The budget per GPU, with its unit (default: the hardware's memory).")] = None,
    overlap: Annotated[str, typer.Option("--overlap", help="Communication overlap convention of the time model: default, none or full.")] = "default",
    dtype: Annotated[str, typer.Option("--dtype", help="Matmul dtype of the step (bf16, fp16, fp8).")] = "bf16",
    attention: Annotated[str, typer.Option("--attention", help="Attention kernel of the time model: flash or materialized.")] = "flash",
    matmul_efficiency: Annotated[Optional[str], _opt("--matmul-efficiency", "The time model's matmul constant (default: the hardware file's fitted one).")] = None,
    top: Annotated[int, typer.Option("--top", help="Layouts listed, best first.")] = 10,
    exhaustive: Annotated[bool, _opt("--exhaustive", "Time every layout that fits (no dominance pruning; slower, the same result).")] = False,
    workers: Annotated[int, typer.Option("--workers", "-j", help="Processes to split the space over (the result is the same for any number).")] = 1,
    price_per_gpu_hour: Annotated[Optional[str], _opt("--price-per-gpu-hour", "Dollars per GPU-hour: $ per million tokens.")] = None,
    serve: Annotated[bool, _opt("--serve", "Serving layouts (tp, pp, batch, weight and KV formats) instead of training.")] = False,
    context: Length("--context", "Serving: tokens in each sequence's KV cache (default: the model's n_ctx).", "-c") = None,
    max_batch: Length("--max-batch", "Serving: the largest batch tried (powers of two up to it).", optional=False) = 256,
    quant: Annotated[str, typer.Option("--quant", help="Serving: weight formats to try, comma-separated (bf16, fp8, int4-g128 …).")] = "bf16",
    kv_dtype: Annotated[str, typer.Option("--kv-dtype", help="Serving: KV cache formats to try, comma-separated.")] = "bf16",
    sets: Sets = None,
) -> None:
    """The best parallel layout of a model on a cluster: every layout checked for divisibility and
    memory (`fit`'s arithmetic), the ones that fit timed (the step-time model), ranked; the
    frontier of step time against memory; why every other (tp, pp, cp) loses."""
    from ..errors import WorkloadError
    from ..units import parse_bytes
    from .time import resolve_hardware

    arch = load(model, sets)
    hardware = resolve_hardware(hw)
    if isinstance(gpus, bool) or gpus < 1:
        raise WorkloadError(f"--gpus must be an integer >= 1, got {gpus}")
    if top < 1:
        raise WorkloadError(f"--top must be >= 1, got {top}")

    def qty(flag: str, v: str | None) -> int | None:
        if v is None:
            return None
        try:
            return parse_bytes(v, what="memory size")
        except ValueError as err:
            raise WorkloadError(f"{flag}: {err}") from None

    budget = qty("--gpu-memory", gpu_memory) or hardware.memory_bytes
    if not budget:
        raise WorkloadError(f"--hw {hw}: the hardware file gives no memory_bytes; use --gpu-memory")
    price = None
    if price_per_gpu_hour is not None:
        from ..core.time.setup import exact_number

        price = exact_number(price_per_gpu_hour, "--price-per-gpu-hour")
        if price < 0:
            raise WorkloadError("--price-per-gpu-hour must not be negative")
    if serve:
        from .sweep_serve import serve_sweep

        serve_sweep(arch, hardware, gpus=gpus, budget=budget, context=context, max_batch=max_batch, quant=quant,
                    kv_dtype=kv_dtype, tp=tp, pp=pp, max_tp=max_tp, top=top, price=price,
                    allowance=qty("--allowance", allowance) or 0, fmt=fmt)
        return
    from fractions import Fraction

    from ..core.memory.activations import RECOMPUTE
    from ..core.sweep.memory import MemorySetup
    from ..core.sweep.search import SweepSetup, sweep as run_sweep
    from ..core.sweep.space import Space
    from ..core.sweep.timing import prepare
    from ..core.time.setup import exact_number
    from ..present.sweep_document import Context as DocContext

    seq = min(arch.n_ctx, DEFAULT_SEQ) if seq is None else seq
    if global_batch is None:
        global_batch = max(1, DEFAULT_TOKENS_PER_STEP // seq)
    rec = tuple(x.strip() for x in recompute.split(",") if x.strip())
    if not rec or any(r not in RECOMPUTE for r in rec):
        raise WorkloadError(f"--recompute: expected values among {', '.join(RECOMPUTE)}, got {recompute!r}")
    sps = {"on": (True,), "off": (False,), "both": (False, True)}.get(sequence_parallel)
    if sps is None:
        raise WorkloadError(f"--sequence-parallel: expected on, off or both, got {sequence_parallel!r}")
    fixed = {k: v for k, v in (("tp", tp), ("pp", pp), ("dp", dp), ("ep", ep), ("cp", cp),
                               ("micro_batch", micro_batch), ("virtual_stages", virtual_stages)) if v is not None}
    for k, v in fixed.items():
        if isinstance(v, bool) or v < 1:
            raise WorkloadError(f"--{k.replace('_', '-')} must be an integer >= 1, got {v}")
    cf = exact_number(capacity_factor, "--capacity-factor")
    if cf <= 0:
        raise WorkloadError(f"--capacity-factor must be positive, got {capacity_factor}")
    node = max_tp or hardware.gpus_per_node or 8
    space = Space(gpus=gpus, global_batch=global_batch, seq=seq, max_cp=max_cp, max_micro_batch=max_micro_batch,
                  max_virtual_stages=max_virtual_stages, recompute=rec, zero=_ints("--zero", zero, (0, 1, 2, 3)),
                  sequence_parallel=sps, fixed=fixed).check()
    mem = MemorySetup(seq=seq, global_batch=global_batch, optimizer=optimizer, flash=flash, dropout=dropout,
                      capacity_factor=Fraction(cf), allowance=qty("--allowance", allowance) or 0)
    from ..core.memory.training import optimizer as check_optimizer

    check_optimizer(optimizer)
    setup = SweepSetup(space, mem, budget, node, top, exhaustive)
    eff = exact_number(matmul_efficiency, "--matmul-efficiency") if matmul_efficiency is not None else None
    kw = {"seq": seq, "dtype": dtype, "overlap": overlap, "efficiency": eff, "attention": attention}
    prepared = prepare(arch, hardware, **kw)
    result = run_sweep(arch, setup, prepared, workers=workers, prepare_args=(hardware, kw))
    ctx = DocContext(arch.name, hardware.name, price, *_assumptions(setup, hardware, node, overlap, dtype,
                                                                    global_batch, seq))
    _emit(result, ctx, fmt)


def _assumptions(setup, hardware, node: int, overlap: str, dtype: str, global_batch: int, seq: int) -> tuple[str, tuple[str, ...]]:
    m = setup.memory
    time_model = (f"core.time.step (overlap {overlap}, matmuls in {dtype}): compute + exposed communication + "
                  "pipeline bubble per step; 1F1B, interleaved 1F1B with virtual stages")
    from ..core.sweep.search import DOMINANCE

    return time_model, (
        f"memory per GPU as `attncalc fit` computes it: optimizer {m.optimizer}, FlashAttention "
        f"{'on' if m.flash else 'off'}, dropout {'on' if m.dropout else 'off'}, allowance {m.allowance:,} bytes; "
        f"budget {setup.budget:,} bytes ({hardware.name})",
        f"tensor parallelism up to {node} (one node{'' if hardware.gpus_per_node else ', assumed'}); "
        f"{global_batch:,} sequences of {seq:,} tokens per step; micro-batch b divides the global batch / dp",
        f"time model: {time_model}",
        "" if setup.exhaustive else f"pruned: {DOMINANCE}; a layout so dominated is timed only if it could still "
                                    "enter the results, the frontier or its (tp, pp, cp)'s best (--exhaustive: time all)",
    )


def _emit(result, ctx, fmt: Format) -> None:
    if fmt is Format.json:
        from ..present.document import envelope, to_json
        from ..present.sweep_document import sweep_document

        emit(to_json(envelope(**sweep_document(result, ctx))))
        return
    from ..present.sweep_document import sweep_blocks
    from ..present.tables import csv, markdown, print_page, terminal_width

    width = terminal_width()
    blocks = sweep_blocks(result, ctx, width)
    if fmt is Format.csv:
        from ..present.tables import Table

        emit(csv([b for b in blocks if isinstance(b, Table)]))
    elif fmt is Format.markdown:
        emit(markdown(blocks))
    else:
        print_page(blocks, width)
