"""attncalc: exact parameter, FLOP and memory counts for transformer architectures.

The library API is the same pure core the CLI uses::

    from attncalc import load_model, count_params, param_summary
    gpt3 = load_model("gpt3")
    param_summary(gpt3)["attention"]["per_head"]   # 6291456
"""

from typing import TYPE_CHECKING

# The names below are imported on first use (PEP 562), so the command line, which needs only some
# of them, starts faster; `from attncalc import load_model` works as before.
_EXPORTS = {
    "Architecture": ".spec.arch", "from_mapping": ".spec.arch", "Node": ".core.tree",
    "AttncalcError": ".errors", "ConfigError": ".errors", "UnknownModelError": ".errors",
    "WorkloadError": ".errors", "count_params": ".core.params", "load_model": ".spec.load",
    "preset_names": ".spec.load", "param_summary": ".core.views",
}

if TYPE_CHECKING:
    from .core.params import count_params
    from .core.tree import Node
    from .core.views import param_summary
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

__all__ = [
    "Architecture", "AttncalcError", "ConfigError", "Node", "UnknownModelError", "WorkloadError",
    "count_params", "from_mapping", "load_model", "param_summary", "preset_names", "__version__",
]
