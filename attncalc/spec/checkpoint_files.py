"""The checkpoint at a path, whatever its format: a .gguf file (spec/gguf.py), a .safetensors file
or a folder of safetensors (spec/checkpoint.py)."""

from __future__ import annotations

from pathlib import Path

from .checkpoint import Checkpoint, read_safetensors, read_safetensors_folder
from .gguf import read_gguf


def read_checkpoint(ref: Path) -> Checkpoint | None:
    """The checkpoint at a path: a .gguf file, a .safetensors file, or a folder of safetensors."""
    ref = Path(ref)
    if ref.is_file() and ref.suffix == ".gguf":
        return read_gguf(ref)
    if ref.is_file() and ref.suffix == ".safetensors":
        return Checkpoint("safetensors", (ref.name,), tuple(read_safetensors(ref)))
    if ref.is_dir():
        return read_safetensors_folder(ref)
    return None
