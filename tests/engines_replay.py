"""Replaying tests/golden/engines/logs.json through core.serve.engines: each log entry's setup as an
``EngineSetup`` (its engine, version, knobs, device and model description), or the reason it cannot be
replayed. Shared by tests/test_engines.py and benchmarks/engines_table.py."""

from __future__ import annotations

import json
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from attncalc.core.memory.quant import QuantScheme
from attncalc.core.serve.calibration import gib
from attncalc.core.serve.devices import DEVICES
from attncalc.core.serve.engines import EngineSetup
from attncalc.core.serve.startup import Measured

ROOT = Path(__file__).resolve().parent.parent
ENGINES = ROOT / "tests" / "golden" / "engines"
LOGS = json.loads((ENGINES / "logs.json").read_text())["entries"]
MODELS = json.loads((ENGINES / "models.json").read_text())
BY_ID = {e["id"]: e for e in LOGS}

QUANT = {  # vLLM's quantization knob (and the checkpoint's name) -> the weights' format
    "fp8": "fp8",
    "gptq_marlin": "int4-g128-sym",
}


@dataclass
class Replay:
    entry: dict
    arch: object | None
    setup: EngineSetup | None
    reason: str = ""  # why it cannot be replayed (setup None)


def _device(entry: dict):
    g = (entry.get("gpu") or {}).get("model") or ""
    if "H100 80GB HBM3" in g or g.startswith("H100 (reported as"):  # issue logs naming "H100": the 80GB SXM
        return DEVICES["h100-sxm"]
    return None


def _dtype(knobs: dict) -> str:
    d = (knobs.get("dtype") or "torch.bfloat16").replace("torch.", "")
    return {"bfloat16": "bf16", "float16": "fp16", "float32": "fp32"}.get(d, "bf16")


def _scheme(model: dict, knobs: dict) -> QuantScheme:
    """The checkpoint's format; unquantized weights are held in the dtype the engine runs (--dtype)."""
    dtype = _dtype(knobs)
    q = model.get("quant")
    kq = knobs.get("quantization")
    if q is None and kq in QUANT:
        q = QUANT[kq]
    parts = tuple(tuple(p) for p in model.get("quant_parts", ()))
    return QuantScheme(q or dtype, dtype, parts)


def replay(entry: dict, *, measured: bool = False) -> Replay:
    """The entry as an EngineSetup (``measured``: with the start-up figures the log prints)."""
    from attncalc.spec.load import load_model

    name = entry.get("model") or ""
    model = MODELS.get(name)
    if model is None:
        return Replay(entry, None, None, "the log does not name a checkpoint attncalc has a config for")
    if "unsupported" in model:
        return Replay(entry, None, None, model["unsupported"])
    device = _device(entry)
    if device is None:
        return Replay(entry, None, None, f"no CUDA total recorded for the GPU ({(entry.get('gpu') or {}).get('model')})")
    k = entry.get("knobs") or {}
    p = entry.get("parallelism") or {}
    arch = load_model(str(ROOT / model["config"]))
    f = entry.get("figures") or {}
    m = Measured()
    if measured:
        g = lambda key: int(gib(f[key])) if f.get(key) is not None else None  # noqa: E731
        m = Measured(weights=g("weights_gib"), torch_peak=g("torch_peak_increase_gib"),
                     non_torch=g("non_torch_increase_gib"), available_kv=g("available_kv_cache_gib"),
                     num_blocks=f.get("num_gpu_blocks"))
    util = k.get("gpu_memory_utilization")
    req = f.get("requested_gib")
    if util is not None and req is not None and abs(float(req) - float(util) * 79.19) > 0.05:
        util = round(float(req) / 79.19, 2)  # the log's requested memory says which utilization ran
    setup = EngineSetup(
        entry["engine"], device, (entry.get("engine_version") or "0.19.0").lstrip("v"),
        tp=p.get("tp", 1), pp=p.get("pp", 1), dp=p.get("dp", 1), dtype=_dtype(k), quant=_scheme(model, k),
        kv_cache_dtype=k.get("kv_cache_dtype") or "auto",
        gpu_memory_utilization=Fraction(str(util)) if util is not None else None,
        mem_fraction_static=Fraction(str(k["mem_fraction_static"])) if k.get("mem_fraction_static") else None,
        max_model_len=k.get("max_model_len"), max_num_batched_tokens=k.get("max_num_batched_tokens"),
        max_num_seqs=k.get("max_num_seqs"), block_size=k.get("block_size"), measured=m)
    return Replay(entry, arch, setup)
