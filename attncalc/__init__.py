"""attncalc: exact parameter, FLOP and memory counts for transformer architectures.

The library API is the same pure core the CLI uses::

    from attncalc import Workload, build, load_model
    r = build(load_model("gpt3"), Workload(seq=2048, tokens=300 * 10**9))
    r.params.attention.per_head        # 6291456: one head's four matrices
    r.params.total                     # 174604259328
    r.flops.training.total             # exact training FLOPs (causal attention, matmuls)
    r.memory.kv_cache.per_token        # bytes per token of context, bf16
"""

from typing import TYPE_CHECKING, Any

# The names below are imported on first use (PEP 562), so the command line, which needs only some
# of them, starts faster; `from attncalc import load_model` works as before.
_EXPORTS = {
    "Architecture": ".spec.arch", "from_mapping": ".spec.arch", "Node": ".core.tree",
    "AttncalcError": ".errors", "ConfigError": ".errors", "UnknownModelError": ".errors",
    "WorkloadError": ".errors", "count_params": ".core.evaluate", "forward": ".core.evaluate",
    "decode": ".core.evaluate", "training": ".core.evaluate", "load_model": ".spec.load",
    "preset_names": ".spec.load", "params_of": ".core.figures", "Report": ".core.report", "build": ".core.report",
    "Convention": ".core.workload", "Workload": ".core.workload",
}

if TYPE_CHECKING:
    from .core.evaluate import count_params, decode, forward, training
    from .core.figures import params_of
    from .core.report import Report, build
    from .core.tree import Node
    from .core.workload import Convention, Workload
    from .errors import AttncalcError, ConfigError, UnknownModelError, WorkloadError
    from .spec.arch import Architecture, from_mapping
    from .spec.load import load_model, preset_names


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        value = getattr(importlib.import_module(_EXPORTS[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__version__ = "0.1.0"


def param_summary(a: "Architecture", tree: "Node | None" = None) -> dict[str, Any]:
    """The parameter figures as a plain dict: the `params` section of `count --format json`."""
    from .core.figures import params_of
    from .present.document import plain

    return plain(params_of(a, tree))


__all__ = [
    "Architecture", "AttncalcError", "ConfigError", "Convention", "Node", "Report", "UnknownModelError",
    "Workload", "WorkloadError", "build", "count_params", "decode", "forward", "from_mapping", "load_model",
    "param_summary", "params_of", "preset_names", "training", "__version__",
]
