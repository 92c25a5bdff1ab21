"""attncalc: exact parameter, FLOP and memory counts for transformer architectures.

The library API is the same pure core the CLI uses::

    from attncalc import load_model, count_params, param_summary
    gpt3 = load_model("gpt3")
    param_summary(gpt3)["attention"]["per_head"]   # 6291456
"""

from .spec.arch import Architecture, from_mapping
from .core.tree import Node
from .errors import AttncalcError, ConfigError, UnknownModelError, WorkloadError
from .core.params import count_params
from .spec.load import load_model, preset_names
from .core.views import param_summary

__version__ = "0.1.0"

__all__ = [
    "Architecture", "AttncalcError", "ConfigError", "Node", "UnknownModelError", "WorkloadError",
    "count_params", "from_mapping", "load_model", "param_summary", "preset_names", "__version__",
]
