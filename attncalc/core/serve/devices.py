"""What a serving engine reads off the device at start-up, which a datasheet does not print.

An engine sizes its pools from the memory CUDA reports, not from the marketing figure: vLLM from
``torch.cuda.mem_get_info()``'s total (``MemorySnapshot.total_memory``), SGLang's default
``mem_fraction_static`` from nvidia-smi's total in MiB (``get_device_memory_capacity``), and all three
from the memory free once the CUDA context (and, with several ranks, NCCL) is up. Each figure below
is stated with where it was read; a device without an entry falls back to the hardware file's
``memory_bytes`` (a stated assumption), and ``--gpu-memory`` replaces the CUDA total.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

GIB = 1 << 30
MIB = 1 << 20


@dataclass(frozen=True)
class Device:
    """One GPU as an engine sees it (bytes)."""

    name: str  # the hardware file's name (spec/hardware.py)
    cuda_total: int  # torch.cuda.mem_get_info()[1]
    smi_total_mib: int | None  # nvidia-smi "memory.total" (SGLang's gpu_mem)
    source: str

    def as_dict(self) -> dict:
        return {"name": self.name, "cuda_total": self.cuda_total, "smi_total_mib": self.smi_total_mib,
                "source": self.source}


def _gib(text: str) -> int:
    """A printed GiB figure ('79.19') as bytes: the device total is known to the printed digits only."""
    return int(Fraction(text) * GIB)


DEVICES: dict[str, Device] = {d.name: d for d in (
    Device("h100-sxm", _gib("79.19"), 81559,
           "CUDA total 79.19 GiB: the 61 vLLM 0.19.0 llm-d logs (tests/golden/engines/logs.json) print 'Requested "
           "memory: 0.950000 (util), 75.23 GiB' (75.23 / 0.95 = 79.19) and PyTorch's OOM message on an H100 80GB "
           "HBM3 reads 'a total capacity of 79.19 GiB'; nvidia-smi 81,559 MiB (SGLang 0.5.4 "
           "server_args._handle_gpu_memory_settings' worked H100 example, RULES.md)"),
    Device("h200", _gib("139.80"), 143771,
           "CUDA total 139.80 GiB: PyTorch's OOM message on H200 141GB ('a total capacity of 139.80 GiB'; "
           "139.72 and 139.81 are also printed under other drivers); nvidia-smi 143,771 MiB"),
)}


def device_for(hw_name: str | None, memory_bytes: int | None) -> Device | None:
    """The device entry of a hardware file, else one built from its datasheet memory (stated)."""
    if hw_name in DEVICES:
        return DEVICES[hw_name]
    if memory_bytes:
        return Device(hw_name or "gpu", memory_bytes, memory_bytes // MIB,
                      "no CUDA total recorded for this device: the hardware file's memory_bytes is used")
    return None
