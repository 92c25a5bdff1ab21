"""`attncalc run MODEL`: execute a Numba attention block at a shape and measure it against the
counted FLOPs and this machine's own sgemm. numpy and numba are imported here only, after the
memory guard."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from . import app
from .common import emit, handles_errors, stderr
from .faults import error, one_line, say
from .options import Attention, AttentionMode, Length, Model, Sets, load


@app.command(epilog="Examples: attncalc run gpt2-small --seq 512 · attncalc run gpt3 --heads 8 --seq 2048 · "
                    "attncalc run llama-3-8b --seq 4096 --threads 2 --format json")
@handles_errors
def run(
    model: Model,
    seq: Length("--seq", "Tokens per sequence.", "-s", optional=False) = 1024,
    batch: Length("--batch", "Sequences.", "-b", optional=False) = 1,
    heads: Annotated[Optional[int], typer.Option("--heads", help="Run only this many query heads (a block too large for the machine).", show_default=False)] = None,
    layers: Annotated[int, typer.Option("--layers", help="Attention blocks applied in sequence.")] = 1,
    threads: Annotated[Optional[int], typer.Option("--threads", help="Threads (default: all cores).", show_default=False)] = None,
    dtype: Annotated[str, typer.Option("--dtype", help="fp32 (float32, f32, single) or fp64 (float64, f64, double): the kernel executes these two.")] = "float32",
    attention: Attention = AttentionMode.auto,
    repeat: Annotated[int, typer.Option("--repeat", help="Timed runs.")] = 5,
    warmup: Annotated[int, typer.Option("--warmup", help="Untimed runs first.")] = 1,
    max_memory: Annotated[Optional[str], typer.Option("--max-memory", help="Refuse runs needing more than this (e.g. 8GiB; default: available memory).", show_default=False)] = None,
    check: Annotated[bool, typer.Option("--check/--no-check", help="Compare the output with a NumPy reference.")] = True,
    sets: Sets = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table or json.")] = "table",
) -> None:
    """Execute one attention block with Numba at a shape: time, GFLOP/s vs. counted FLOPs and sgemm."""
    from ..errors import WorkloadError
    from ..core.workload import Convention
    from ..run.plan import plan
    from ..units import parse_bytes

    if fmt not in ("table", "json"):
        raise WorkloadError(f"--format must be table or json for run, not {fmt!r}")
    from ..run.execute.spec import normalize_dtype

    dtype = normalize_dtype(dtype)
    for name, value, low in (("--repeat", repeat, 1), ("--warmup", warmup, 0), ("--threads", threads or 1, 1)):
        if value < low:
            raise WorkloadError(f"{name} must be an integer >= {low}, got {value}")
    limit = None
    if max_memory is not None:
        try:
            limit = parse_bytes(max_memory, what="memory size")
        except ValueError as err:
            raise WorkloadError(f"--max-memory: {err}") from None
    arch = load(model, sets)
    p = plan(arch, batch=batch, seq=seq, conv=Convention(attention.value), heads=heads, layers=layers)

    from ..run.execute import RunSpec, run_attention

    spec = RunSpec(batch=batch, seq=seq, d_model=arch.d_model, n_heads=p.heads, n_kv_heads=p.kv_heads,
                   d_head=arch.head_dim, causal=p.causal, window=p.window, dtype=dtype, layers=layers,
                   repeat=repeat, warmup=warmup, threads=threads, check=check, max_memory=limit)
    err_console = stderr()
    with err_console.status("starting", spinner="dots") as status:
        result = run_attention(spec, progress=lambda msg: status.update(one_line(msg)))
    gflops = p.flops / result.median_s / 1e9
    ratio = gflops / result.sgemm_gflops if result.sgemm_gflops else None
    warnings = list(result.warnings)
    if ratio is not None and ratio > 1:
        warnings.append(
            f"the block ran at {ratio:.2f} x the sgemm probe, above 1: the machine was busy "
            "while the probe ran (a block cannot beat the GEMMs it is made of); read the ratio "
            "with care")
    from ..present.document import envelope

    doc = envelope(**{
        "model": arch.name,
        "shape": {"batch": batch, "seq": seq, "d_model": arch.d_model, "heads": p.heads, "kv_heads": p.kv_heads,
                  "d_head": arch.head_dim, "layers": layers, "attention": "causal" if p.causal else "full",
                  "window": p.window, "dtype": dtype, "model_heads": arch.n_heads},
        "flops": p.flops, "median_s": result.median_s, "min_s": result.min_s, "max_s": result.max_s,
        "times_s": result.times, "gflops": gflops, "sgemm_gflops": result.sgemm_gflops,
        "ratio_to_sgemm": ratio, "sgemm_samples": result.sgemm_samples,
        "sgemm_spread": result.sgemm_spread, "sgemm_numpy_gflops": result.sgemm_numpy_gflops,
        "sgemm_kernel_blas_gflops": result.sgemm_kernel_gflops,
        "compile_s": result.compile_s, "cached": result.cached, "threads": result.threads,
        "blas": result.blas, "blas_backend": result.blas_backend,
        "threading_layer": result.threading_layer, "layout": result.layout,
        "cache_dir": result.cache_dir, "warnings": warnings,
        "peak_memory_bytes": result.peak_memory_bytes, "estimated_bytes": result.estimated_bytes,
        "max_rel_error": result.max_rel_error, "tolerance": result.tolerance, "check_passed": result.check_passed,
        "model_attention_flops": p.model_flops,
        "model_attention_s": result.median_s * p.model_flops / p.flops,
    })
    for w in warnings:
        say(f"warning: {w}")
    if fmt == "json":
        from ..present.document import to_json

        emit(to_json(doc))
    else:
        _table(arch, p, result, batch, seq, dtype, gflops, ratio)
    if result.check_passed is False:
        error(f"output differs from the NumPy reference (max relative error "
              f"{result.max_rel_error:.2e} > {result.tolerance:.0e})")
        raise typer.Exit(1)


def _table(arch, p, r, batch: int, seq: int, dtype: str, gflops: float, ratio: float | None) -> None:
    """The run as a table: ``p`` the plan (what was counted), ``r`` the measured result."""
    from ..present.tables import TEXT, Column, Table, print_page
    from ..units import human_bytes, human_flops, plural

    t = Table(f"{arch.name}: one attention block, executed", (Column("what", TEXT), Column("measured", TEXT, fold=True)),
              key="run")
    subset = f" (of {arch.n_heads}: a subset, --heads)" if p.heads != arch.n_heads else ""
    t.add("shape", f"batch {batch} × seq {seq:,} × d_model {arch.d_model:,}; {p.heads} heads{subset} "
                   f"of {arch.head_dim}, {p.kv_heads} key/value; {'causal' if p.causal else 'full'}"
                   f"{', window ' + format(p.window, ',') if p.window else ''}; {plural(p.layers, 'layer')}; {dtype}")
    t.add("counted FLOPs", f"{p.flops:,} ({human_flops(p.flops)}; same convention as `count`, matmuls)")
    t.add("time", f"median {r.median_s * 1e3:,.1f} ms (min {r.min_s * 1e3:,.1f}, max {r.max_s * 1e3:,.1f}) "
                  f"over {len(r.times)} runs")
    t.add("achieved", f"{gflops:,.1f} GFLOP/s on {r.threads} threads")
    lay = r.layout
    t.add("executed with", f"{r.blas}; numba {r.threading_layer} threads; steps of "
                           f"{plural(lay['seqs'], 'sequence')} x {plural(lay['heads'], 'head')}, query tiles of {lay['block_q']}")
    if r.sgemm_gflops:
        t.add("sgemm, same run", f"{r.sgemm_gflops:,.1f} GFLOP/s (the faster of NumPy's matmul "
                                 f"{r.sgemm_numpy_gflops:,.0f} and the kernel's BLAS {r.sgemm_kernel_gflops:,.0f}; "
                                 f"spread {r.sgemm_spread:.0%}): the block reached {ratio:.2f} of it")
    t.add("JIT compile", "loaded from cache (no compilation)" if r.cached else f"{r.compile_s:.1f} s (first run; cached for the next)")
    t.add("peak memory added", f"{human_bytes(r.peak_memory_bytes)} (estimated {human_bytes(r.estimated_bytes)} before allocating)")
    if r.max_rel_error is not None:
        t.add("vs NumPy reference", f"max relative error {r.max_rel_error:.2e} (tolerance {r.tolerance:.0e})")
    t.add("whole model", f"all its attention blocks at this shape: {human_flops(p.model_flops)} "
                         f"≈ {r.median_s * p.model_flops / p.flops:,.2f} s on this machine")
    print_page([t])
