"""`attncalc check MODEL --max-params 7B …`: exit 0 when every budget holds, 1 naming each that fails."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from . import app
from .common import Format, emit, handles_errors
from .options import Model, Sets, load, parse_tokens


def _budget(flag: str, help: str):
    return Annotated[Optional[str], typer.Option(flag, help=help, show_default=False)]


@app.command(epilog="Examples: attncalc check llama-2-7b --max-params 7B · "
                    "attncalc check model.toml --max-kv-cache 4GiB --context 32768 · "
                    "attncalc check gpt3 --expect-params 175B --tolerance 0.5% · "
                    "attncalc check model.toml --budgets model.budgets.toml")
@handles_errors
def check(
    model: Model,
    max_params: _budget("--max-params", "Fail above this many parameters (e.g. 7B).") = None,
    min_params: _budget("--min-params", "Fail below this many parameters.") = None,
    expect_params: _budget("--expect-params", "Fail unless the total is within --tolerance of this.") = None,
    tolerance: Annotated[Optional[str], typer.Option("--tolerance", help="For --expect-params: 0.5% or 0.005 (default 0.5%).", show_default=False)] = None,
    max_non_embedding_params: _budget("--max-non-embedding-params", "Fail above this many non-embedding parameters.") = None,
    max_active_params: _budget("--max-active-params", "Fail above this many active parameters per token (MoE).") = None,
    max_flops_per_token: _budget("--max-flops-per-token", "Fail above this many forward FLOPs per token at --seq.") = None,
    max_training_flops: _budget("--max-training-flops", "Fail above this many training FLOPs (needs --tokens).") = None,
    max_kv_cache: _budget("--max-kv-cache", "Fail above this KV cache size at --context (e.g. 4GiB).") = None,
    max_weights: _budget("--max-weights", "Fail above this weights size in --dtype (e.g. 16GB).") = None,
    max_training_memory: _budget("--max-training-memory", "Fail above this Adam mixed-precision training state.") = None,
    budgets: Annotated[Optional[Path], typer.Option("--budgets", help="A TOML file of budgets (and context, dtype, tokens…).", show_default=False)] = None,
    context: Annotated[Optional[int], typer.Option("--context", "-c", help="KV cache context (default: n_ctx).", show_default=False)] = None,
    seq: Annotated[Optional[int], typer.Option("--seq", "-s", help="Sequence length for FLOPs (default: n_ctx).", show_default=False)] = None,
    batch: Annotated[Optional[int], typer.Option("--batch", "-b", help="Batch for the KV cache and FLOPs (default 1).", show_default=False)] = None,
    tokens: Annotated[Optional[str], typer.Option("--tokens", "-t", help="Training tokens for --max-training-flops.", show_default=False)] = None,
    dtype: Annotated[Optional[str], typer.Option("--dtype", help="Weights dtype (default bf16).", show_default=False)] = None,
    kv_dtype: Annotated[Optional[str], typer.Option("--kv-dtype", help="KV cache dtype (default: --dtype).", show_default=False)] = None,
    sets: Sets = None,
    fmt: Format = typer.Option(Format.table, "--format", "-f", help="table (one line per budget) or json."),
) -> None:
    """Check a model against budgets: exit 0 if all hold, 1 if any fails (each named), 2 on bad input."""
    from ..core.budgets import BUDGETS, evaluate, parse_budget, read_budgets_file
    from ..errors import ConfigError
    from ..core.report import build
    from ..core.workload import Workload
    from ..units import parse_fraction

    given = {k: v for k, v in locals().items() if k in BUDGETS and v is not None}
    file_data: dict = {}
    path = budgets or _beside(model)
    if path is not None:
        file_data = read_budgets_file(path)
        if budgets is None:
            print(f"attncalc: using budgets from {path}", file=sys.stderr)
    src = str(path) if path else None
    raw = {k: v for k, v in file_data.items() if k in BUDGETS} | given
    limits = {k: parse_budget(k, v, None if k in given else src) for k, v in raw.items()}
    expect = None
    if expect_params is not None:
        expect = parse_budget("expect_params", expect_params, None)
    elif "expect_params" in file_data:
        expect = parse_budget("expect_params", file_data["expect_params"], src)
    tol_raw = tolerance if tolerance is not None else file_data.get("tolerance", "0.5%")
    try:
        tol = parse_fraction(str(tol_raw))
    except ValueError as err:
        raise ConfigError(str(err), field="tolerance") from None
    if not limits and expect is None:
        raise ConfigError("no budgets given: use --max-params 7B, --max-kv-cache 4GiB … or --budgets FILE")

    def setting(value, key, default=None):
        return value if value is not None else file_data.get(key, default)

    arch = load(model, sets)
    tok = setting(tokens, "tokens")
    work = Workload(setting(batch, "batch", 1), setting(seq, "seq"), setting(context, "context"),
                    parse_tokens(None if tok is None else str(tok)), False, setting(dtype, "dtype", "bf16"),
                    setting(kv_dtype, "kv_dtype"))
    outcomes = evaluate(build(arch, work), limits, expect, tol)
    failed = [o for o in outcomes if not o.ok]
    if fmt is Format.json:
        from ..present.document import envelope, to_json

        emit(to_json(envelope(model=arch.name, ok=not failed, budgets=[o.as_dict() for o in outcomes])))
    else:
        _report(arch.name, outcomes, failed)
    if failed:
        raise typer.Exit(1)


def _fmt(value, unit: str) -> str:
    from ..units import human, human_bytes, human_flops

    exact = f"{value:,}" if isinstance(value, int) else f"{float(value):,.1f}"
    approx = {"count": human, "flops": human_flops, "bytes": human_bytes}[unit](int(value))
    return f"{exact} ({approx})"


def _report(name: str, outcomes, failed) -> None:
    if not failed:
        parts = "; ".join(f"{o.what} {_fmt(o.actual, o.unit)} {o.relation} {_fmt(o.limit, o.unit)}" for o in outcomes)
        print(f"ok: {name}: {len(outcomes)} {'budgets hold' if len(outcomes) > 1 else 'budget holds'}: {parts}")
        return
    for o in failed:
        print(f"FAIL {name}: {o.name}: {o.what} is {_fmt(o.actual, o.unit)}, limit {o.relation} {_fmt(o.limit, o.unit)}")
    print(f"{len(failed)} of {len(outcomes)} budgets failed for {name}")


def _beside(model: str) -> Path | None:
    """A budgets file kept next to a model file: model.budgets.toml, or budgets.toml beside config.json."""
    p = Path(model)
    if not p.is_file():
        return None
    for candidate in (p.with_name(p.stem + ".budgets.toml"), p.with_name("budgets.toml")):
        if candidate.is_file():
            return candidate
    return None
