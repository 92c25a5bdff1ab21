"""`attncalc check MODEL --max-params 7B …`: exit 0 when every budget holds, 1 naming each that fails.

One option per row of ``core.budgets.BUDGETS``, generated: a new budget needs no change here.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from . import app
from .common import complete_model, emit, handles_errors
from .faults import say
from .options import Length, Sets, load, parse_tokens


class CheckFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"
    github = "github"
    junit = "junit"


Models = Annotated[list[str], typer.Argument(
    help="Presets, TOML files, config.json files or folders; a budgets file stands for its model (for pre-commit).",
    autocompletion=complete_model, show_default=False)]


def check(
    models: Models,
    tolerance: Annotated[Optional[str], typer.Option("--tolerance", help="For --expect-params: 0.5% or 0.005 (default 0.5%).", show_default=False)] = None,
    budgets: Annotated[Optional[Path], typer.Option("--budgets", help="A TOML file of budgets (and context, dtype, tokens…). Default: MODEL.budgets.toml, or budgets.toml beside the model.", show_default=False)] = None,
    context: Length("--context", "KV cache context (default: n_ctx).", "-c") = None,
    seq: Length("--seq", "Sequence length for FLOPs (default: n_ctx).", "-s") = None,
    batch: Length("--batch", "Batch for the KV cache and FLOPs (default 1).", "-b") = None,
    tokens: Annotated[Optional[str], typer.Option("--tokens", "-t", help="Training tokens for --max-training-flops.", show_default=False)] = None,
    dtype: Annotated[Optional[str], typer.Option("--dtype", help="Weights dtype (default bf16).", show_default=False)] = None,
    hw: Annotated[Optional[str], typer.Option("--hw", help="Hardware for the time budgets (--max-decode-ms …): a name (`attncalc list-hw`) or a TOML file.", show_default=False)] = None,
    kv_dtype: Annotated[Optional[str], typer.Option("--kv-dtype", help="KV cache dtype (default: --dtype).", show_default=False)] = None,
    sets: Sets = None,
    skip_without_budgets: Annotated[bool, typer.Option("--skip-without-budgets", help="Skip a model that has no budgets (no budgets file beside it, none given) instead of refusing it: for hooks that pass every changed file.")] = False,
    fmt: Annotated[CheckFormat, typer.Option("--format", "-f", help="table (one line when all hold, else one per failure), json, csv, markdown, github (workflow annotations), junit (XML).")] = CheckFormat.table,
    **limits: Any,
) -> None:
    """Check models against budgets: exit 0 if all hold, 1 if any fails (each named), 2 on bad input."""
    from ..core.budgets import Results, evaluate, plan
    from ..spec.ref import split_ref
    from ..core.report import build

    given = any(v is not None for v in limits.values())
    results = []
    for ref in targets(models):
        model, changes = split_ref(ref)  # MODEL:field=value works here as in diff and compare
        changes += sets or []
        path = budgets or beside(model)
        if path is None and not given and skip_without_budgets:
            say(f"skipping {model}: no budgets file beside it")
            continue
        p = plan(limits, {"context": context, "seq": seq, "batch": batch, "tokens": parse_tokens(tokens),
                          "dtype": dtype, "kv_dtype": kv_dtype, "hw": hw}, tolerance, path)
        if path is not None and budgets is None:
            say(f"using budgets from {path}")
        arch = load(model, changes)
        s = p.settings
        work = s.workload()
        report = build(arch, work)
        results.append(Result(arch, model, changes, evaluate(
            Results(report, gpu_memory=serving_memory(p.limits), hardware=s.hw), p.limits,
            tolerance=p.tolerance)))
    if not results:
        say("nothing to check")
        return
    emit(render(fmt, results), workflow_commands=fmt is CheckFormat.github)
    if any(not o.ok for r in results for o in r.outcomes):
        raise typer.Exit(1)


def serving_memory(limits) -> int | None:
    """The GPU memory serving budgets are read against (what --min-context must fit in)."""
    memory = limits.get("max_serving_memory_per_gpu") or limits.get("max_memory_per_gpu")
    return memory.value if memory is not None else None


@dataclass(frozen=True)
class Result:
    arch: Any
    model: str  # as the user named it
    sets: list[str]
    outcomes: list


def render(fmt: CheckFormat, results: list[Result]) -> str:
    from ..present import checks

    if fmt is CheckFormat.json:
        from ..present.document import envelope, to_json

        docs = [{"model": r.arch.name, "ok": all(o.ok for o in r.outcomes), "budgets": [o.as_dict() for o in r.outcomes]}
                for r in results]
        if len(docs) == 1:
            return to_json(envelope(**docs[0]))
        return to_json(envelope(ok=all(d["ok"] for d in docs), models=docs))
    if fmt is CheckFormat.csv:
        return "".join(checks.csv(r.arch.name, r.outcomes, header=i == 0) for i, r in enumerate(results))
    if fmt is CheckFormat.markdown:
        return "\n".join(checks.markdown(r.arch.name, r.outcomes) for r in results)
    if fmt is CheckFormat.github:  # its own ::error lines; every piece of user text in them escaped
        return "".join(checks.github(r.model, r.outcomes, where(r.arch, r.model, r.sets, r.outcomes)) for r in results)
    if fmt is CheckFormat.junit:
        return checks.junit([(r.model, r.outcomes, where(r.arch, r.model, r.sets, r.outcomes)) for r in results])
    return "".join(checks.lines(r.arch.name, r.outcomes) for r in results)


def targets(models: list[str]) -> list[str]:
    """The models to check, once each: a budgets file given as a model stands for the model beside
    it (NAME.budgets.toml -> NAME.toml or NAME.json; budgets.toml -> config.json), so a hook that
    passes every changed file checks a model when only its budgets changed."""
    out: list[str] = []
    for m in models:
        p = Path(m)
        if p.is_file() and (p.name.endswith(".budgets.toml") or p.name == "budgets.toml"):
            stem = p.name[: -len(".budgets.toml")] if p.name != "budgets.toml" else None
            found = [c for c in ((p.with_name(stem + ".toml"), p.with_name(stem + ".json")) if stem
                                 else (p.with_name("config.json"),)) if c.is_file()]
            if not found:
                say(f"skipping {m}: a budgets file with no model beside it")
                continue
            m = str(found[0])
        if m not in out:
            out.append(m)
    return out


def model_file(model: str) -> Path | None:
    """The file a MODEL argument reads: the file itself, or config.json in a folder."""
    from ..spec.load import user_path

    p = user_path(model)
    if p.is_dir() and (p / "config.json").is_file():
        return p / "config.json"
    return p if p.is_file() else None


def beside(model: str) -> Path | None:
    """A budgets file kept next to a model file: NAME.budgets.toml beside NAME.toml (or NAME.json),
    budgets.toml beside a config.json (so `check FOLDER` and `check FOLDER/config.json` agree)."""
    p = model_file(model)
    if p is None:
        return None
    candidates = [p.with_name(p.stem + ".budgets.toml")]
    if p.name == "config.json":
        candidates.append(p.with_name("budgets.toml"))
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    return None


def where(arch, model: str, sets: list[str], outcomes) -> dict:
    """For each budget: the model file's line that sets the figure (its first driver the file writes
    and --set does not override), else the budgets file's line that sets the limit."""
    from ..core.budgets import BUDGETS
    from ..present.checks import Where
    from ..spec.locate import HF_KEYS, json_key_lines, toml_key_lines

    path = model_file(model)
    keys: dict[tuple[str, ...], int] = {}
    is_json = path is not None and path.suffix == ".json"
    if path is not None:
        try:
            text = path.read_text(encoding="utf-8")
            keys = json_key_lines(text) if is_json else toml_key_lines(text)
        except (OSError, UnicodeDecodeError):
            keys = {}
    overridden = {s.split("=", 1)[0].strip().replace("-", "_") for s in sets}
    shown = str(path) if path is not None else None
    out = {}
    for o in outcomes:
        limit_note = ""
        origin = o.origin
        if origin is not None and origin.source:
            limit_note = f"limit {origin.key} at {origin.source}" + (f":{origin.line}" if origin.line else "")
        driver = None
        for fld in BUDGETS[o.name].drivers:
            if fld in overridden:
                continue
            for key in (HF_KEYS.get(fld, ()) + (fld,)) if is_json else (fld,):
                if (key,) in keys:
                    driver = (fld, key, keys[(key,)])
                    break
            if driver:
                break
        if driver:
            fld, key, line = driver
            value = getattr(arch, fld, None)
            set_note = f"{key} = {value}" if key == fld else f"{key} ({fld} = {value})"
            note = "; ".join(p for p in (f"{set_note} at {shown}:{line}", limit_note) if p)
            out[o.name] = Where(shown, line, note)
        elif origin is not None and origin.source:
            out[o.name] = Where(origin.source, origin.line, limit_note)
        else:
            out[o.name] = Where(shown, None, limit_note)
    return out


def _register() -> None:
    """Add one --<budget> option per row of BUDGETS to the signature Typer reads, then register."""
    from ..core.budgets import BUDGETS

    sig = inspect.signature(check, eval_str=True)
    fixed = [p for p in sig.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    extra = [inspect.Parameter(b.name, inspect.Parameter.KEYWORD_ONLY, default=None,
                               annotation=Annotated[Optional[str], typer.Option(b.flag, help=b.help, show_default=False)])
             for b in BUDGETS.values()]
    models_param, rest = fixed[0], fixed[1:]
    params = [models_param.replace(kind=inspect.Parameter.KEYWORD_ONLY)] + extra + \
             [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in rest]
    wrapped = handles_errors(check)
    wrapped.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
    wrapped.__annotations__ = {p.name: p.annotation for p in params} | {"return": None}
    wrapped.__wrapped__ = None  # type: ignore[attr-defined]  (Typer must read the new signature)
    del wrapped.__wrapped__
    app.command(
        "check",
        epilog="Examples: attncalc check llama-2-7b --max-params 7B · "
               "attncalc check model.toml --max-kv-cache 4GiB --context 32768 · "
               "attncalc check gpt3 --expect-params 175B --tolerance 0.5% · "
               "attncalc check model.toml --budgets model.budgets.toml --format github")(wrapped)


_register()

# `diff` registers itself on import; imported here until cli/__init__.py lists it.
