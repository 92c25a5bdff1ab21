"""What a model or a machine is, and where it comes from (standard library only)."""

from . import readers_special  # noqa: F401  (registers the issue-20 readers in hf.READERS)
