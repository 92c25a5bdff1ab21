"""Reproduce the figures of the README's "Memory: will it train, will it serve" section.

    python benchmarks/memory_figures.py

Pure arithmetic (no timing): each line is a `memory_document` figure for the command shown.
"""

from __future__ import annotations

from attncalc.core.memory.activations import ActivationSettings
from attncalc.core.memory.lora import LoraSetup
from attncalc.core.memory.plan import MemorySettings, memory_plan
from attncalc.present.memory_document import memory_document as _document


def memory_document(a, settings):
    return _document(memory_plan(a, settings))
from attncalc.core.memory.quant import QuantScheme
from attncalc.core.memory.serving import ServingSetup
from attncalc.core.memory.layout import Parallelism
from attncalc.spec.load import load_model
from attncalc.units import human_bytes

GiB = 2**30


def show(cmd: str, d: dict) -> None:
    print(f"$ {cmd}")
    for k, v in d.items():
        unit = "" if k.startswith("max_") or k == "adapters" else f"  ({human_bytes(v)})"
        print(f"    {k:<12} {v:>18,}{unit}" if isinstance(v, int) else f"    {k:<12} {v}")


def main() -> None:
    gpt3 = load_model("gpt3")
    for recompute, sp in (("none", False), ("selective", True)):
        doc = memory_document(gpt3, MemorySettings(
            parallel=Parallelism(tp=8, pp=8), optimizer="adam",
            activations=ActivationSettings(seq=2048, recompute=recompute, sequence_parallel=sp)))
        pg = doc["memory"]["per_gpu"]
        show(f"attncalc fit gpt3 --tp 8 --pp 8 --recompute {recompute}" + (" --sequence-parallel" if sp else ""),
             {k: pg[k] for k in ("weights", "gradients", "optimizer", "activations", "total")})

    l7 = load_model("llama-2-7b")
    doc = memory_document(l7, MemorySettings(
        activations=ActivationSettings(seq=4096, flash=True, dropout=False, recompute="full"),
        lora=LoraSetup(16, ("all-linear",)), quant=QuantScheme("nf4-dq")))
    pg = doc["memory"]["per_gpu"]
    show("attncalc fit llama-2-7b --seq 4096 --flash --no-dropout --recompute full --lora 16 "
         "--lora-targets all-linear --quant nf4-dq",
         {**{k: pg[k] for k in ("weights", "gradients", "optimizer", "activations", "total")},
          "adapters": doc["params"]["lora"]["total"]})

    l70 = load_model("llama-3-70b")
    doc = memory_document(l70, MemorySettings(train=False, serve=True, quant=QuantScheme("int4-g128"),
                                              serving=ServingSetup(batch=8, context=8192, tp=2),
                                              gpu_memory=80 * GiB))
    sv = doc["memory"]["serving"]
    show("attncalc fit llama-3-70b --serve --tp 2 --batch 8 --context 8192 --quant int4-g128 --gpu-memory 80GiB",
         {**sv["per_gpu"], "max_context": sv["max_context"], "max_batch": sv["max_batch"],
          "bits/weight": round(doc["memory"]["quantization"]["bits_per_weight"]["approx"], 4)})


if __name__ == "__main__":
    main()
