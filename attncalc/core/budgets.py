"""THE budget table, for `attncalc check`, `fit`, `time` and `diff`: limits on a model's size and
cost, compared exactly.

A budget names a figure of the typed results (an attribute path into ``Results``: the count Report,
the memory plan of `fit`, the time report of `time`) and a bound. Values come from the command line or
a TOML budgets file, in human units (7B, 4GiB, 1e9), parsed exactly by ``units.parse_quantity``;
TOML floats are read as Decimals, so ``max_params = 1e23`` is 10**23, not the nearest double.

Adding a budget is one row of ``BUDGETS``: `check` grows the option ``--<name>``, the budgets file
the key ``<name>``, and every output format the line, with no other change.
"""

from __future__ import annotations

import difflib
import tomllib
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from operator import attrgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from ..errors import ConfigError
from ..spec.load import read_text
from ..units import MAX_QUANTITY, parse_bytes, parse_fraction, parse_length, parse_quantity

if TYPE_CHECKING:  # the results' modules pull in the whole core: not needed to declare budgets
    from .memory.plan import MemoryPlan
    from .report import Report
    from .time.report import TimeReport
    from .workload import Workload

Number = int | Fraction
Figure = Callable[["Results"], "Number | None"]


class Results:
    """What budgets read: the count Report, and, built once on first use, the memory plan (`fit`'s
    arithmetic at the given settings, or training and serving at the Report's workload) and the time
    report (needs hardware). A figure a command did not build is built here from the same core, so
    any figure of `fit` or `time` can be a `check` budget."""

    def __init__(self, report: "Report", memory: "MemoryPlan | None" = None, time: "TimeReport | None" = None, *,
                 gpu_memory: int | None = None, hardware: str | None = None) -> None:
        self.report = report
        self._memory, self._time = memory, time
        self._gpu_memory, self._hardware = gpu_memory, hardware

    @property
    def memory(self) -> "MemoryPlan":
        if self._memory is None:
            from .memory.plan import at_workload, memory_plan

            self._memory = memory_plan(self.report.arch, at_workload(self.report, gpu_memory=self._gpu_memory))
        return self._memory

    @property
    def time(self) -> "TimeReport | None":
        if self._time is None and self._hardware is not None:
            from ..spec.hardware import load_hardware
            from .time.report import time_report
            from .time.setup import Setup

            w = self.report.flops.workload
            self._time = time_report(self.report.arch, Setup(load_hardware(self._hardware), self.report.memory.dtype),
                                     batch=w.batch, seq=w.seq, context=w.context)
        return self._time


def at(path: str) -> Figure:
    """The figure at an attribute path of the typed results (None where they lack it, e.g. training
    FLOPs without --tokens, time without hardware); an integral Fraction is returned as an int."""

    def read(results: Results) -> Number | None:
        try:
            value = attrgetter(path)(results)
        except AttributeError:
            return None
        if isinstance(value, Fraction):
            return value.numerator if value.denominator == 1 else value
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    read.path = path  # type: ignore[attr-defined]
    return read


@dataclass(frozen=True)
class Budget:
    name: str  # the file key; the option is --name-with-dashes
    what: str  # what the figure is, in words
    relation: str  # "max": actual <= limit; "min": actual >= limit; "expect": within --tolerance
    unit: str  # count | flops | bytes (how human units and approximations print)
    figure: Figure
    help: str
    needs: str = "a workload"  # what to give when the figure is absent
    # Model fields that set this figure, most specific first: a CI annotation points at the first
    # one the model file writes.
    drivers: tuple[str, ...] = ()

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


_SIZE = ("n_layers", "d_model", "d_ff", "n_heads", "n_kv_heads", "d_head", "vocab_size", "n_experts")
BUDGETS: dict[str, Budget] = {b.name: b for b in (
    Budget("max_params", "parameters", "max", "count", at("report.params.total"),
           "Fail above this many parameters (e.g. 7B).", drivers=_SIZE),
    Budget("min_params", "parameters", "min", "count", at("report.params.total"),
           "Fail below this many parameters.", drivers=_SIZE),
    Budget("expect_params", "parameters", "expect", "count", at("report.params.total"),
           "Fail unless the total is within --tolerance of this.", drivers=_SIZE),
    Budget("max_non_embedding_params", "non-embedding parameters", "max", "count",
           at("report.params.conventions.non_embedding"), "Fail above this many non-embedding parameters.",
           drivers=_SIZE[:-2] + ("n_experts",)),
    Budget("max_active_params", "active parameters per token", "max", "count", at("report.params.conventions.active"),
           "Fail above this many active parameters per token (MoE).", drivers=("top_k", "n_experts") + _SIZE),
    Budget("max_flops_per_token", "forward FLOPs per token", "max", "flops", at("report.flops.forward_per_token"),
           "Fail above this many forward FLOPs per token at --seq.", drivers=_SIZE + ("n_ctx", "top_k")),
    Budget("max_training_flops", "training FLOPs", "max", "flops", at("report.flops.training.total"),
           "Fail above this many training FLOPs (needs --tokens).", needs="--tokens (or tokens in the budgets file)",
           drivers=_SIZE + ("n_ctx", "top_k")),
    Budget("max_kv_cache", "KV cache bytes", "max", "bytes", at("report.memory.kv_cache.total"),
           "Fail above this KV cache size at --context (e.g. 4GiB).",
           drivers=("n_kv_heads", "d_head", "n_layers", "sliding_window", "n_heads", "d_model", "n_ctx")),
    Budget("max_weights", "weights bytes", "max", "bytes", at("report.memory.weights.total"),
           "Fail above this weights size in --dtype (e.g. 16GB).", drivers=_SIZE),
    Budget("max_training_memory", "training state bytes", "max", "bytes", at("report.memory.training.total"),
           "Fail above this Adam mixed-precision training state.", drivers=_SIZE),
    # `fit`'s figures (its memory plan; check builds it at the workload: training and serving)
    Budget("max_memory_per_gpu", "training memory per GPU", "max", "bytes", at("memory.per_gpu.peak.total"),
           "Fail above this training memory on the most-loaded GPU (fit's plan, e.g. 80GiB).",
           needs="training settings", drivers=_SIZE),
    Budget("max_serving_memory_per_gpu", "serving memory per GPU", "max", "bytes", at("memory.serving.per_gpu.total"),
           "Fail above this serving memory on the most-loaded GPU (weights, KV cache, prefill).",
           needs="serving settings", drivers=_SIZE + ("n_kv_heads", "d_head")),
    Budget("max_activation_memory", "activation memory per GPU", "max", "bytes",
           at("memory.per_gpu.peak.activations"), "Fail above this training activation memory per GPU.",
           needs="training settings", drivers=("n_layers", "d_model", "d_ff", "n_heads")),
    Budget("min_context", "largest context that fits", "min", "count", at("memory.serving.fitting_context"),
           "Serving: fail unless this context fits at --batch in the GPU memory.", needs="--gpu-memory",
           drivers=("n_kv_heads", "d_head", "n_layers", "sliding_window")),
    # `time`'s figures (its estimate, not the lower bound; check builds it with --hw)
    Budget("max_decode_ms", "decode time per token, estimate (ms)", "max", "ms", at("time.decode_ms"),
           "Fail if the decode estimate per token is above this (ms; needs --hw).", needs="--hw",
           drivers=_SIZE),
    Budget("max_prefill_ms", "prefill time, estimate (ms)", "max", "ms", at("time.prefill_ms"),
           "Fail if the prefill estimate is above this (ms; needs --hw).", needs="--hw", drivers=_SIZE),
    Budget("min_tokens_per_s", "decode tokens/s, estimate", "min", "rate", at("time.decode_tokens_per_s"),
           "Fail if the decode estimate of tokens/s is below this (needs --hw).", needs="--hw", drivers=_SIZE),
)}
# Budgets whose limits are exact fractions (times, rates) rather than whole counts.
FRACTIONAL = ("ms", "rate")

# Workload settings a budgets file may carry, so the file alone reproduces the check:
# key -> (kind, the option that sets it on the command line)
SETTINGS: dict[str, str] = {"context": "count0", "seq": "count1", "batch": "count1", "tokens": "count1",
                            "dtype": "text", "kv_dtype": "text", "tolerance": "fraction", "hw": "name"}


@dataclass(frozen=True)
class Limit:
    """A bound and where it was written: a file and key (with its line) or a command-line flag."""

    value: int | Fraction
    source: str | None = None  # the budgets file; None for the command line
    key: str = ""  # the key in the file, or the flag
    line: int | None = None


@dataclass(frozen=True)
class Outcome:
    name: str
    what: str
    actual: Number
    limit: Number
    relation: str  # "<=", ">=" or "within"
    ok: bool
    unit: str
    origin: Limit | None = field(default=None, compare=False)

    def as_dict(self) -> dict[str, Any]:
        def num(v):
            return v if isinstance(v, int) else {"numerator": v.numerator, "denominator": v.denominator,
                                                  "approx": float(v)}

        d = {"name": self.name, "what": self.what, "actual": num(self.actual), "limit": num(self.limit),
             "relation": self.relation, "ok": self.ok}
        if self.origin is not None and self.origin.source:
            d["source"] = {"file": self.origin.source, "key": self.origin.key, "line": self.origin.line}
        return d


@dataclass(frozen=True)
class Settings:
    """The workload a budgets file or the command line sets (None where unset)."""

    context: int | None = None
    seq: int | None = None
    batch: int | None = None
    tokens: int | None = None
    dtype: str | None = None
    kv_dtype: str | None = None
    hw: str | None = None  # hardware for the time budgets

    def workload(self, seq: int | None = None) -> "Workload":
        """The count workload: these settings, ``seq`` where none is set (default: the model's n_ctx)."""
        from .workload import Workload

        return Workload(self.batch or 1, self.seq if self.seq is not None else seq, self.context, self.tokens, False,
                        self.dtype or "bf16", self.kv_dtype)


@dataclass(frozen=True)
class Plan:
    """Everything a check needs besides the model: the limits, the tolerance and the workload."""

    limits: dict[str, Limit]
    tolerance: Fraction
    settings: Settings
    file: Path | None = None


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def parse_budget(name: str, raw: Any, source: str | None) -> Number:
    """A limit from a file (source = its path, field = the key) or the command line (field = the flag),
    read exactly by ``units.parse_quantity`` (its bounds on exponents and size apply)."""
    fld = name if source else _flag(name)
    if isinstance(raw, bool) or not isinstance(raw, (int, str, Decimal, float)):
        raise ConfigError(f"expected a number such as 7B, 4GiB or 1e9, got {_kind(raw)}", source=source, field=fld)
    budget = BUDGETS.get(name)
    if budget is not None and budget.unit in FRACTIONAL and not isinstance(raw, int):
        try:
            value = parse_fraction(str(raw))
        except ValueError as err:
            raise ConfigError(str(err), source=source, field=fld) from None
    elif isinstance(raw, int):  # a TOML integer: the same bound as a number written as text
        if raw > MAX_QUANTITY:
            raise ConfigError(f"{_big(raw)} is too large: at most 1e60", source=source, field=fld)
        value = raw
    else:
        try:
            if name in BUDGETS and BUDGETS[name].unit == "bytes":  # a unit required: a bare 80 is not 80 bytes
                value = parse_bytes(str(raw), what="memory size")
            elif name in ("seq", "context", "batch"):  # 32k = 32,768, as on the command line
                value = parse_length(str(raw))
            else:
                value = parse_quantity(str(raw), what="number")
        except ValueError as err:
            raise ConfigError(str(err), source=source, field=fld) from None
    if value < 0:
        raise ConfigError(f"must be >= 0, got {value}", source=source, field=fld)
    return value


def _big(n: int) -> str:
    from ..errors import shown

    return shown(n) if n.bit_length() > 200 else f"{n:.3e}" if n > 10**15 else f"{n:,}"


def parse_tolerance(raw: Any, source: str | None) -> Fraction:
    """'0.5%' -> 1/200, 0.005 -> 1/200 (exact, by ``units.parse_fraction``); refuses negatives,
    infinities and non-numbers."""
    fld = "tolerance" if source else "--tolerance"
    if isinstance(raw, bool) or not isinstance(raw, (int, str, Decimal, float)):
        raise ConfigError(f"expected a fraction such as 0.5% or 0.005, got {_kind(raw)}", source=source, field=fld)
    try:
        return parse_fraction(str(raw))
    except ValueError as err:
        raise ConfigError(str(err), source=source, field=fld) from None


def _kind(v: Any) -> str:
    if isinstance(v, bool):
        return f"the boolean {str(v).lower()}"
    if isinstance(v, dict):
        return "a table"
    if isinstance(v, list):
        return "an array"
    return f"{type(v).__name__} {v}"[:80]


def _setting(key: str, raw: Any, source: str) -> Any:
    kind = SETTINGS[key]
    if kind == "name":
        if not isinstance(raw, str) or not raw.strip():
            raise ConfigError(f"expected a name such as \"h100-sxm\", got {_kind(raw)}", source=source, field=key)
        return raw
    if kind == "text":
        if not isinstance(raw, str):
            raise ConfigError(f"expected a string such as \"bf16\", got {_kind(raw)}", source=source, field=key)
        from ..dtypes import dtype_bytes
        from ..errors import WorkloadError

        try:
            dtype_bytes(raw)
        except WorkloadError as err:
            raise ConfigError(str(err), source=source, field=key) from None
        return raw
    if kind == "fraction":
        return parse_tolerance(raw, source)
    value = parse_budget(key, raw, source)
    low = 0 if kind == "count0" else 1
    if value < low:
        raise ConfigError(f"must be an integer >= {low}, got {value}", source=source, field=key)
    from ..spec.arch import MAX_INT

    if value > MAX_INT:  # named here, not later as the --seq / --context it stands for
        raise ConfigError(f"{_big(value)} is too large: at most 2**63 - 1 = {MAX_INT:,}", source=source, field=key)
    return value


def read_budgets_file(path: Path) -> tuple[dict[str, Any], dict[str, int]]:
    """The budgets table of a TOML file (top level or under [budgets]) and the line of each key.

    Every value is type-checked here, so a wrong type is one line naming the file and key.
    """
    from ..spec.locate import toml_key_lines

    label = str(path)
    text = read_text(Path(path))
    try:
        data = tomllib.loads(text, parse_float=Decimal)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"invalid TOML: {err}", source=label) from None
    except RecursionError:
        raise ConfigError("invalid TOML: nested too deeply", source=label) from None
    except ValueError as err:  # e.g. an integer past Python's digit limit
        raise ConfigError(f"invalid TOML: {err}", source=label) from None
    prefix: tuple[str, ...] = ()
    if "budgets" in data:
        if not isinstance(data["budgets"], dict):
            raise ConfigError(f"expected a table of budgets, got {_kind(data['budgets'])}", source=label, field="budgets")
        others = [k for k in data if k != "budgets"]
        if others:
            raise ConfigError("unknown key outside [budgets]; put budgets and settings under [budgets]",
                              source=label, field=others[0])
        data, prefix = data["budgets"], ("budgets",)
    known = list(BUDGETS) + sorted(SETTINGS)
    out: dict[str, Any] = {}
    for key, value in data.items():
        fld = ".".join(prefix + (key,)) if prefix else key
        if key not in BUDGETS and key not in SETTINGS:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(known)}"
            raise ConfigError(f"unknown budget{hint}", source=label, field=fld)
        out[key] = parse_budget(key, value, label) if key in BUDGETS else _setting(key, value, label)
    lines_all = toml_key_lines(text)
    lines = {k: lines_all[prefix + (k,)] for k in out if prefix + (k,) in lines_all}
    return out, lines


def plan(cli_limits: dict[str, Any], cli_settings: dict[str, Any], tolerance: str | None,
         file: Path | None, *, require: bool = True) -> Plan:
    """Command-line values over the budgets file's; the same rules for `check` and `diff`."""
    from_file: dict[str, Any] = {}
    lines: dict[str, int] = {}
    if file is not None:
        from_file, lines = read_budgets_file(file)
    src = str(file) if file is not None else None
    limits: dict[str, Limit] = {}
    for name in BUDGETS:
        if cli_limits.get(name) is not None:
            limits[name] = Limit(parse_budget(name, cli_limits[name], None), None, _flag(name))
        elif name in from_file:
            limits[name] = Limit(from_file[name], src, name, lines.get(name))
    tol = parse_tolerance(tolerance, None) if tolerance is not None else from_file.get("tolerance", Fraction(1, 200))
    settings = Settings(**{k: (cli_settings.get(k) if cli_settings.get(k) is not None else from_file.get(k))
                           for k in SETTINGS if k != "tolerance"})
    if require and not limits:
        raise ConfigError("no budgets given: use --max-params 7B, --max-kv-cache 4GiB … or --budgets FILE")
    return Plan(limits, tol, settings, file)


def evaluate(results: "Results | Report", limits: dict[str, Limit | Number], expect: int | None = None,
             tolerance: Fraction | Decimal = Fraction(1, 200)) -> list[Outcome]:
    """Each budget against the results, in the order of ``BUDGETS``, compared exactly."""
    if not isinstance(results, Results):
        results = Results(results)
    limits = dict(limits)
    if expect is not None:
        limits["expect_params"] = expect
    tol = Fraction(tolerance)
    out = []
    for name, budget in BUDGETS.items():
        if name not in limits:
            continue
        lim = limits[name]
        origin = lim if isinstance(lim, Limit) else None
        limit = lim.value if isinstance(lim, Limit) else lim
        actual = budget.figure(results)
        if actual is None:
            raise ConfigError(f"needs {budget.needs} to be checked", field=name)
        # A time or rate is reported (JSON, tables) as the double nearest its exact value: a limit equal
        # to the figure as reported holds, whichever side of the exact value that double lies.
        as_reported = budget.unit in FRACTIONAL and float(actual) == float(limit)
        if budget.relation == "max":
            ok, rel, what = actual <= limit or as_reported, "<=", budget.what
        elif budget.relation == "min":
            ok, rel, what = actual >= limit or as_reported, ">=", budget.what
        else:
            ok, rel = abs(actual - limit) <= tol * limit, "within"
            what = f"{budget.what} within {_percent(tol)}"
        out.append(Outcome(name, what, actual, limit, rel, ok, budget.unit, origin))
    return out


def _percent(tol: Fraction) -> str:
    """1/200 -> '0.5%': exact when the percentage has a short decimal form."""
    p = tol * 100
    d = Decimal(p.numerator) / Decimal(p.denominator)
    return f"{d.normalize():f}%" if Fraction(d) == p else f"{float(p):g}%"
