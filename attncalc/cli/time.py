"""`attncalc time MODEL --hw h100-sxm`: roofline lower bounds for prefill, decode and training, an
estimate under stated efficiencies (or fitted to measurements), MFU under every convention, and
CI budgets on the estimate. `attncalc list-hw`: the hardware table."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path
from typing import Annotated, Optional

import typer

from . import app
from .common import Format, emit, handles_errors
from .faults import say
from .options import Attention, AttentionMode, Batch, Context, Model, Seq, Sets, Tokens, load, parse_tokens


def _opt(flag: str, help: str):
    return Annotated[Optional[str], typer.Option(flag, help=help, show_default=False)]


def _int(flag: str, help: str):
    return Annotated[Optional[int], typer.Option(flag, help=help, show_default=False)]



def resolve_hardware(ref: str):
    """A hardware name, a TOML file, or `this` (measured now: imports numpy)."""
    from ..spec.hardware import from_mapping, load_hardware

    if ref == "this":
        say("measuring this machine (sgemm and memory bandwidth probes)")
        from ..run.hwprobe import probe

        return from_mapping(probe(), source="this")
    if ref.startswith("~"):
        from ..spec.load import user_path

        ref = str(user_path(ref))  # one line for ~NAME of no user (load_hardware would crash on it)
    elif not ref.endswith(".toml") and "/" not in ref and os.sep not in ref:  # a name: h100 is h100-sxm
        from ..spec.hardware import hardware_names
        from ..spec.load import HARDWARE_ALIASES, hardware_alias, suggestions

        names = hardware_names()
        ref = hardware_alias(ref, names)
        if ref not in names and not Path(ref).is_file():
            from ..errors import ConfigError

            close = suggestions(ref, names, HARDWARE_ALIASES)
            hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            raise ConfigError(f"unknown hardware {ref!r}{hint} (`attncalc list-hw` shows them; `this` measures this "
                              "machine; or give a TOML file)", field="--hw")
    part = load_hardware(ref)
    if not ref.endswith(".toml") and "/" not in ref and os.sep not in ref:  # a name of the table: messages
        from dataclasses import replace  # say "hardware NAME", not the installed package's absolute path

        part = replace(part, path=f"hardware {part.name}")
    return part


@app.command("time", epilog="Examples: attncalc time llama-3-8b --hw h100-sxm · "
                            "attncalc time llama-3-70b --hw h100-sxm --gpus 4 --batch 8 --context 4096 · "
                            "attncalc time gpt3 --hw a100-80gb-sxm --tokens 300e9 --gpus 8 · "
                            "attncalc time mistral-7b --hw h200 --efficiency compute=0.6,memory=0.8 · "
                            "attncalc time llama-3-8b --hw h100-sxm --measured-prefill-s 0.25 --measured-decode-s 0.008 · "
                            "attncalc time llama-3-8b --hw h100-sxm --mfu-tokens-per-s 3500 --seq 8192 · "
                            "attncalc time palm-540b --hw tpu-v4 --seq 2048 --mfu-tokens-per-s 238300 --mfu-devices 6144 · "
                            "attncalc time gpt2-small --hw this · attncalc time llama-3-8b --hw h200 --max-decode-ms 5 · "
                            "attncalc time llama-3-70b --hw h100-sxm --gpus 64 --tp 4 --pp 8 --micro-batch 1 "
                            "--global-batch 256 --seq 8192 --schedule interleaved --virtual-stages 5 --dtype fp8 · "
                            "attncalc time llama-3-8b --hw h100-sxm --gpus 8 --dp 8 --global-batch 128 --seq 8192 "
                            "--tokens 15T --price-per-gpu-hour 2")
@handles_errors
def time_command(
    model: Model,
    hw: Annotated[str, typer.Option("--hw", "--hardware", help="Hardware: a name (`attncalc list-hw`), a TOML file, or `this` (measured now).")],
    batch: Batch = 1, seq: Seq = None, context: Context = None, tokens: Tokens = None,
    recompute: _opt("--recompute", "Activation recomputation: none, selective or full (`--recompute` alone: full). "
                                   "Without a layout: full adds one forward to the training bound.") = None,
    dtype: Annotated[Optional[str], typer.Option("--dtype", help="Weights dtype: fp32, tf32, bf16, fp16, fp8, int8, int4, fp4 (default bf16; fp32 where the hardware has no bf16 peak).", show_default=False)] = None,
    compute_dtype: _opt("--compute-dtype", "Matmul dtype (default: the weights'; bf16 for int4): picks the peak.") = None,
    kv_dtype: _opt("--kv-dtype", "KV cache dtype (default: the compute dtype).") = None,
    gpus: Annotated[int, typer.Option("--gpus", help="Tensor-parallel GPUs (communication over the stated interconnect); with a layout (--tp/--pp/--dp …), all the GPUs.")] = 1,
    sparse: Annotated[bool, typer.Option("--sparse", help="Use the 2:4 structured-sparsity peak (labelled as such).")] = False,
    attention: Attention = AttentionMode.auto,
    efficiency: _opt("--efficiency", "compute=0.6,memory=0.8[,network=0.9] for the estimate (default 0.7, 0.9).") = None,
    measured_prefill_s: _opt("--measured-prefill-s", "Your measured prefill time (s): fits the compute efficiency.") = None,
    measured_decode_s: _opt("--measured-decode-s", "Your measured time per decode step (s): fits the memory efficiency.") = None,
    measured_tokens_per_s: _opt("--measured-tokens-per-s", "Your measured decode tokens/s (all sequences): fits the memory efficiency.") = None,
    mfu_tokens_per_s: _opt("--mfu-tokens-per-s", "A measured throughput: report MFU under every convention.") = None,
    mfu_mode: Annotated[str, typer.Option("--mfu-mode", help="What the throughput measures: training, prefill or decode.")] = "training",
    mfu_devices: Annotated[Optional[int], typer.Option("--mfu-devices", help="Chips the throughput ran on (default: --gpus), e.g. a data-parallel job.", show_default=False)] = None,
    max_decode_ms: _opt("--max-decode-ms", "Budget: fail (exit 1) if the decode estimate per token is above this.") = None,
    max_prefill_ms: _opt("--max-prefill-ms", "Budget: fail if the prefill estimate is above this.") = None,
    min_tokens_per_s: _opt("--min-tokens-per-s", "Budget: fail if the decode estimate of tokens/s is below this.") = None,
    tp: _int("--tp", "Training step of a layout: tensor-parallel degree.") = None,
    pp: _int("--pp", "Pipeline-parallel stages.") = None,
    dp: _int("--dp", "Data-parallel replicas (default: --gpus / (tp x pp x cp)).") = None,
    ep: _int("--ep", "Expert-parallel degree (inside dp x cp).") = None,
    cp: _int("--cp", "Context-parallel degree (ring attention).") = None,
    micro_batch: _int("--micro-batch", "Sequences per micro-batch (default 1).") = None,
    global_batch: _int("--global-batch", "Sequences per step (default dp x micro-batch).") = None,
    schedule: _opt("--schedule", "Pipeline schedule: 1f1b (default), gpipe, interleaved, zb-h1, dualpipe.") = None,
    virtual_stages: _int("--virtual-stages", "Model chunks per pipeline rank (interleaved).") = None,
    zero: _int("--zero", "ZeRO stage 0-3 (default 1, Megatron's distributed optimizer).") = None,
    sequence_parallel: Annotated[Optional[bool], typer.Option("--sequence-parallel/--no-sequence-parallel", help="Sequence parallelism with TP (default on).", show_default=False)] = None,
    overlap: _opt("--overlap", "Communication overlap: default (Megatron-LM's), none or full.") = None,
    attention_kernel: _opt("--attention-kernel", "Training step: flash (default) or materialized (S x S scores, "
                                                 "Megatron-LM before FlashAttention).") = None,
    price_per_gpu_hour: _opt("--price-per-gpu-hour", "With --tokens and a layout: the run's cost at this price.") = None,
    sets: Sets = None,
    fmt: Format = typer.Option(Format.table, "--format", "-f", help="Output format."),
) -> None:
    """Roofline LOWER BOUNDS on prefill, decode and training time on named hardware, with an estimate and MFU;
    with a layout (--tp/--pp/--dp/…), the time of one training step."""
    from ..core.workload import Convention, positive
    from ..core.time.calibrate import Measured
    from ..core.time.report import time_report
    from ..core.time.setup import Efficiency, Setup, exact_number, parse_efficiency
    from ..errors import WorkloadError

    arch = load(model, sets)
    s = arch.n_ctx if seq is None else positive("--seq", seq)
    c = s if context is None else positive("--context", context, 0)
    positive("--gpus", gpus)
    if recompute is not None and recompute not in ("none", "selective", "full"):
        raise WorkloadError(f"--recompute must be none, selective or full, not {recompute!r}")
    layout_given = {k: v for k, v in (("--tp", tp), ("--pp", pp), ("--dp", dp), ("--ep", ep), ("--cp", cp),
                                      ("--micro-batch", micro_batch), ("--global-batch", global_batch),
                                      ("--schedule", schedule), ("--virtual-stages", virtual_stages),
                                      ("--zero", zero), ("--overlap", overlap), ("--attention-kernel", attention_kernel),
                                      ("--sequence-parallel", sequence_parallel)) if v is not None}
    if layout_given:
        from .time_step import training_step

        training_step(arch, resolve_hardware(hw), fmt, seq=s, gpus=gpus, dtype=dtype, tokens=tokens, price=price_per_gpu_hour,
                      tp=tp, pp=pp, dp=dp, ep=ep, cp=cp, micro_batch=micro_batch, global_batch=global_batch,
                      schedule=schedule, virtual_stages=virtual_stages, zero=zero,
                      sequence_parallel=sequence_parallel, overlap=overlap, recompute=recompute,
                      attention_kernel=attention_kernel)
        return
    if price_per_gpu_hour is not None:
        raise WorkloadError("--price-per-gpu-hour needs a layout (--tp/--pp/--dp …) and --tokens")
    from ..core.memory.layout import check_tp

    check_tp(arch, gpus, "--gpus")  # tensor parallel: whole heads per GPU, as `fit --tp` requires
    if mfu_devices is not None:
        positive("--mfu-devices", mfu_devices)
    if mfu_mode not in ("training", "prefill", "decode"):
        raise WorkloadError(f"--mfu-mode must be training, prefill or decode, not {mfu_mode!r}")

    def num(flag: str, raw: str | None) -> Fraction | None:
        if raw is None:
            return None
        v = exact_number(raw, flag)
        if v <= 0:
            raise WorkloadError(f"{flag} must be positive, got {raw}")
        return v

    limits = {k: num("--" + k.replace("_", "-"), v) for k, v in
              (("max_decode_ms", max_decode_ms), ("max_prefill_ms", max_prefill_ms),
               ("min_tokens_per_s", min_tokens_per_s)) if v is not None}
    measured = Measured(num("--measured-prefill-s", measured_prefill_s), num("--measured-decode-s", measured_decode_s),
                        num("--measured-tokens-per-s", measured_tokens_per_s))
    eff = parse_efficiency(efficiency) if efficiency else Efficiency()
    hardware = resolve_hardware(hw)
    if dtype is None:
        dtype = "bf16" if "bf16" in hardware.dense or compute_dtype else "fp32"
        if dtype == "fp32":
            say(f"{hardware.name} has no bf16 peak: using fp32 (--dtype to choose)")
    setup = Setup(hardware, dtype, compute_dtype, kv_dtype, gpus, sparse, eff)
    tok = parse_tokens(tokens)
    report = time_report(arch, setup, batch=positive("--batch", batch), seq=s, context=c, tokens=tok,
                         conv=Convention(attention.value), recompute=recompute == "full", measured=measured,
                         mfu_tokens_per_s=num("--mfu-tokens-per-s", mfu_tokens_per_s), mfu_mode=mfu_mode,
                         mfu_devices=mfu_devices)
    from ..present.document import SCHEMA_VERSION, to_csv, to_json
    from ..present.time_document import time_document

    body = time_document(report)

    doc = {"schema_version": SCHEMA_VERSION, "model": arch.name, "hardware": hardware.as_dict(), **body}
    outcomes = []
    if limits:
        from ..core.budgets import Limit, Results, evaluate
        from ..core.report import build

        outcomes = evaluate(Results(build(arch), time=report),
                            {k: Limit(v, None, "--" + k.replace("_", "-")) for k, v in limits.items()})
        doc["budgets"] = [o.as_dict() for o in outcomes]
        doc["ok"] = all(o.ok for o in outcomes)
    if fmt is Format.json:
        emit(to_json(doc))
    elif fmt is Format.csv:
        emit(to_csv(doc))
    else:
        from ..present.roofline import blocks
        from ..present.tables import markdown, print_page

        if fmt is Format.markdown:
            emit(markdown(blocks(report)))
        else:
            print_page(blocks(report))
    failed = [o for o in outcomes if not o.ok]
    if failed:
        from ..present.checks import failure_text

        for o in failed:
            say(f"FAIL {failure_text(arch.name, o)}")
    if failed:
        raise typer.Exit(1)


@app.command("list-hw", epilog="Example: attncalc list-hw --format csv")
@handles_errors
def list_hw(
    fmt: Format = typer.Option(Format.table, "--format", "-f", help="Output format."),
) -> None:
    """List the hardware table: dense and sparse peaks per dtype, memory, bandwidth, interconnect, source."""
    from ..spec.hardware import PEAK_KEYS, hardware_names, load_hardware
    from ..present.roofline import rate
    from ..units import human_flops

    rows = [load_hardware(n) for n in hardware_names()]
    if fmt is Format.json:
        from ..present.document import SCHEMA_VERSION, to_json

        emit(to_json({"schema_version": SCHEMA_VERSION, "hardware": [h.as_dict() for h in rows]}))
        return
    cols = ["name", "memory_bytes", "memory_bytes_per_s", "interconnect_bytes_per_s"]
    cols += [f"dense_{k}" for k in PEAK_KEYS] + [f"sparse_{k}" for k in PEAK_KEYS] + ["source"]

    def cells(h) -> list:
        return ([h.name, h.memory_bytes, h.memory_bytes_per_s, h.interconnect_bytes_per_s]
                + [h.dense.get(k) for k in PEAK_KEYS] + [h.sparse.get(k) for k in PEAK_KEYS] + [h.source])

    if fmt is Format.csv:
        from ..present.document import tabular_csv

        emit(tabular_csv(cols, [["" if v is None else v for v in cells(h)] for h in rows]))
        return

    def peaks(h) -> str:
        return ", ".join(f"{k} {human_flops(v)}/s" + (f" (sparse {human_flops(h.sparse[k])}/s)" if k in h.sparse else "")
                         for k, v in h.dense.items())

    if fmt is Format.markdown:
        from ..escape import markdown as md

        lines = ["| name | memory | bandwidth | interconnect | dense peaks (sparse) | source |", "|---|---:|---:|---|---|---|"]
        lines += [f"| {md(h.name)} | {(h.memory_bytes or 0) / 1e9:g} GB | {rate(h.memory_bytes_per_s)} | "
                  f"{md(h.interconnect)} {rate(h.interconnect_bytes_per_s)} | {peaks(h)} | {md(h.source)} |" for h in rows]
        emit("\n".join(lines) + "\n")
        return
    from ..present.tables import TEXT, Column, Table, print_page

    t = Table("hardware (dense peaks; 2:4 sparse in parentheses; `this` = this machine, measured with --hw this; "
              "sources: --format csv or json)",
              (Column("name", TEXT), Column("memory", TEXT), Column("bandwidth", TEXT), Column("interconnect", TEXT),
               Column("peaks", TEXT)), key="hardware")
    for h in rows:
        t.add(h.name, f"{(h.memory_bytes or 0) / 1e9:g} GB", rate(h.memory_bytes_per_s),
              f"{h.interconnect} {rate(h.interconnect_bytes_per_s)}", peaks(h))
    print_page([t])
