"""`attncalc diff A B`: the fields and every figure that changed between two models."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from . import app
from .common import complete_model, emit, handles_errors
from .options import Attention, AttentionMode, Length, Sets, parse_tokens

REF_HELP = ("A preset, TOML file, config.json or folder; MODEL:field=value[,field=value] for a variant "
            "(llama-3-8b:n_kv_heads=4).")


class DiffFormat(str, Enum):
    table = "table"
    json = "json"
    markdown = "markdown"


@app.command(epilog="Examples: attncalc diff llama-3-8b llama-3-8b:n_kv_heads=4 · "
                    "attncalc diff old/config.json new/config.json --format markdown · "
                    "attncalc diff base.toml model.toml --budgets model.budgets.toml · "
                    "attncalc diff llama-2-7b --set n_kv_heads=8")
@handles_errors
def diff(
    a: Annotated[str, typer.Argument(help="The model before. " + REF_HELP, autocompletion=complete_model, show_default=False)],
    b: Annotated[Optional[str], typer.Argument(help="The model after (default: A, with --set applied).", autocompletion=complete_model, show_default=False)] = None,
    sets: Sets = None,
    seq: Length("--seq", "Tokens per sequence for both (default: A's n_ctx).", "-s") = None,
    context: Length("--context", "KV cache context for both (default: --seq).", "-c") = None,
    batch: Length("--batch", "Sequences per pass (default 1).", "-b") = None,
    tokens: Annotated[Optional[str], typer.Option("--tokens", "-t", help="Training tokens, e.g. 1.4T.", show_default=False)] = None,
    dtype: Annotated[Optional[str], typer.Option("--dtype", help="Weights dtype (default bf16).", show_default=False)] = None,
    kv_dtype: Annotated[Optional[str], typer.Option("--kv-dtype", help="KV cache dtype (default: --dtype).", show_default=False)] = None,
    attention: Attention = AttentionMode.auto,
    budgets: Annotated[Optional[Path], typer.Option("--budgets", help="A TOML budgets file: check both models, exit 1 if B fails one.", show_default=False)] = None,
    budget: Annotated[Optional[list[str]], typer.Option("--budget", help="A budget NAME=VALUE, e.g. max_kv_cache=4GiB (repeatable).", show_default=False)] = None,
    tolerance: Annotated[Optional[str], typer.Option("--tolerance", help="For expect_params (default 0.5%).", show_default=False)] = None,
    label_a: Annotated[Optional[str], typer.Option("--label-a", help="What to call A in the output (default: A as given), e.g. main.", show_default=False)] = None,
    label_b: Annotated[Optional[str], typer.Option("--label-b", help="What to call B in the output (default: B as given).", show_default=False)] = None,
    fail_on_change: Annotated[bool, typer.Option("--fail-on-change", help="Exit 1 when any field or figure changed.")] = False,
    fmt: Annotated[DiffFormat, typer.Option("--format", "-f", help="table, json, or markdown (for a pull-request comment).")] = DiffFormat.table,
) -> None:
    """Diff two models: changed fields, and every changed figure with its delta (exit 0; 1 with --fail-on-change or a failed budget)."""
    from ..core.budgets import BUDGETS, evaluate, plan
    from ..core.diff import diff as compute
    from ..core.report import build
    from ..core.workload import Convention
    from ..errors import ConfigError
    from ..present import diff as show
    from ..spec.edit import apply
    from ..spec.ref import load_ref

    cli_limits: dict[str, str] = {}
    for item in budget or []:
        name, sep, raw = item.partition("=")
        name = name.strip().replace("-", "_")
        if not sep:
            raise ConfigError(f"expected NAME=VALUE such as max_kv_cache=4GiB, got {item!r}", field="--budget")
        if name not in BUDGETS:
            import difflib

            close = difflib.get_close_matches(name, list(BUDGETS), n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(BUDGETS)}"
            raise ConfigError(f"unknown budget {name!r}; {hint}", field="--budget")
        cli_limits[name] = raw.strip()
    has_budgets = bool(cli_limits) or budgets is not None
    p = plan(cli_limits, {"context": context, "seq": seq, "batch": batch, "tokens": parse_tokens(tokens),
                          "dtype": dtype, "kv_dtype": kv_dtype}, tolerance, budgets, require=False)
    if has_budgets and not p.limits:
        raise ConfigError("the budgets file sets no budgets", source=str(budgets))

    from .common import loaded

    arch_a = loaded(load_ref(a))
    arch_b = apply(loaded(load_ref(b if b is not None else a)), sets or [], {})
    default_b = b if b is not None else a
    if sets:
        default_b += " --set " + " --set ".join(sets)
    s = p.settings
    work = s.workload(arch_a.n_ctx)
    conv = Convention(attention.value)
    rep_a, rep_b = build(arch_a, work, conv), build(arch_b, work, conv)
    d = compute(rep_a, rep_b, label_a or a, label_b or default_b)
    outcomes = None
    if has_budgets:
        outcomes = (evaluate(rep_a, p.limits, tolerance=p.tolerance), evaluate(rep_b, p.limits, tolerance=p.tolerance))
    if fmt is DiffFormat.json:
        from ..present.document import envelope, to_json

        emit(to_json(envelope(**show.document(d, outcomes))))
    elif fmt is DiffFormat.markdown:
        emit(show.markdown(d, outcomes))
    else:
        emit(show.table(d, outcomes))
    if (fail_on_change and d.changed) or (outcomes is not None and not all(o.ok for o in outcomes[1])):
        raise typer.Exit(1)
