"""Quantization formats that count their scales: exact bits per weight, per leaf, per block, total.

A format stores each element in ``bits`` bits plus, per block of elements, its scale (and zero
point). Blocks run along a matrix's input dimension (its columns: the reduction dimension of
y = W x), so a leaf of shape (rows, cols) has rows × ceil(cols / block) blocks: exact for every
shape. Sources per format:
- int4 / int8 group-wise, GPTQ (Frantar et al. 2022) and AWQ (Lin et al. 2023) as packed by
  AutoGPTQ/AutoAWQ: one fp16 scale per group and, asymmetric, one zero point of the same bit width
  per group (``qzeros`` packed like the weights); group size 128 by default; g = -1 per output row.
- fp8 per-tensor: E4M3 elements and one fp32 scale per tensor (NVIDIA Transformer Engine; vLLM
  fp8); fp8 per-block: one fp32 scale per 128 × 128 block (DeepSeek-V3 report §3.3.2).
- MXFP4 / MXFP8: OCP Microscaling Formats (MX) v1.0 spec §5: blocks of k = 32 elements sharing one
  E8M0 (8-bit) scale; elements FP4 E2M1 (4 bits) or FP8 E4M3 (8 bits): 4.25 and 8.25 bits.
- NVFP4: 16-element blocks of FP4 E2M1 with one FP8 E4M3 scale each, plus one fp32 scale per tensor
  (NVIDIA, "Introducing NVFP4 for Efficient and Accurate Low-Precision Inference", 2025): 4.5 bits.
- NF4 (QLoRA, Dettmers et al. 2023 §3): 64-element blocks with an fp32 absmax (0.5 bit/param); with
  double quantization the absmax is 8-bit, with one fp32 second-level constant per 256 first-level
  blocks: 8/64 + 32/(64·256) = 0.127 bit/param.
Parts that commonly stay in 16 bits (embeddings, unembedding, norms, biases, the MoE router) keep
``keep`` (bf16 by default); a per-part override changes any part's format. The part ``expert`` is the
matrices inside routed experts: checkpoints such as gpt-oss's store only those in MXFP4 (its
config.json ``quantization_config.modules_to_not_convert`` keeps attention, router, embeddings bf16).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from ...errors import WorkloadError
from ...spec.arch import Architecture
from ..evaluate import count_params
from ..figures import main_block
from ..parts.base import Weight


@dataclass(frozen=True)
class Format:
    name: str
    bits: int  # per element
    block_rows: int = 1  # a scale block spans block_rows × block_cols elements; 0 = whole extent
    block_cols: int = 0
    scale_bits: int = 0  # per block
    zero_bits: int = 0  # per block (asymmetric integer formats)
    tensor_bits: int = 0  # per tensor (a second-level scale)
    level2_blocks: int = 0  # double quantization: one fp32 constant per this many blocks
    source: str = ""

    def bits_for(self, rows: int, cols: int) -> int:
        """Exact bits of one (rows × cols) tensor in this format, scales included."""
        br = rows if self.block_rows == 0 else self.block_rows
        bc = cols if self.block_cols == 0 else self.block_cols
        blocks = -(-rows // br) * -(-cols // bc)
        extra = 0
        if self.level2_blocks:
            extra = -(-blocks // self.level2_blocks) * 32
        return rows * cols * self.bits + blocks * (self.scale_bits + self.zero_bits) + self.tensor_bits + extra


PLAIN = {"fp32": 32, "bf16": 16, "fp16": 16}


def parse_format(text: str) -> Format:
    """bf16 | fp16 | fp32 | int4[-g128][-sym] | int8[-g128|-gN|-g-1][-sym] | fp8 | fp8-block128 |
    mxfp4 | mxfp8 | nvfp4 | nf4 | nf4-dq."""
    t = text.strip().lower()
    if t in PLAIN:
        return Format(t, PLAIN[t], source="plain IEEE / bfloat16 storage")
    m = re.fullmatch(r"int(4|8)(?:-g(-?\d+))?(-sym)?", t)
    if m:
        bits, g, sym = int(m.group(1)), int(m.group(2) or 128), bool(m.group(3))
        if g == 0 or g < -1:
            raise WorkloadError(f"--quant {text!r}: group size must be positive or -1 (per output row)")
        return Format(t, bits, 1, 0 if g == -1 else g, 16, 0 if sym else bits,
                      source="GPTQ/AWQ group-wise: fp16 scale per group" + ("" if sym else f", {bits}-bit zero point"))
    m = re.fullmatch(r"fp8(?:-block(\d+))?", t)
    if m:
        if m.group(1):
            b = int(m.group(1))
            return Format(t, 8, b, b, 32, source=f"FP8 E4M3, fp32 scale per {b}×{b} block (DeepSeek-V3 §3.3.2)")
        return Format(t, 8, 0, 0, 0, tensor_bits=32, source="FP8 E4M3 with one fp32 per-tensor scale")
    if t == "mxfp4":
        return Format(t, 4, 1, 32, 8, source="OCP MX v1.0: FP4 E2M1, E8M0 scale per 32 elements")
    if t == "mxfp8":
        return Format(t, 8, 1, 32, 8, source="OCP MX v1.0: FP8 E4M3, E8M0 scale per 32 elements")
    if t == "nvfp4":
        return Format(t, 4, 1, 16, 8, tensor_bits=32, source="NVFP4: FP4 E2M1, E4M3 scale per 16 elements, fp32 per tensor")
    if t == "nf4":
        return Format(t, 4, 1, 64, 32, source="QLoRA NF4: fp32 absmax per 64 elements")
    if t == "nf4-dq":
        return Format(t, 4, 1, 64, 8, level2_blocks=256,
                      source="QLoRA NF4 + double quantization: 8-bit absmax per 64, fp32 per 256 blocks")
    raise WorkloadError(f"--quant: unknown format {text!r}; use bf16, fp16, fp32, int4-g128, int8, fp8, "
                        "fp8-block128, mxfp4, mxfp8, nvfp4, nf4 or nf4-dq")


# Parts (by leaf kind, or by name for the router) and their default when a model is quantized.
PARTS = ("matrix", "embedding", "unembedding", "norm", "bias", "position", "router", "expert")
KEEP_BY_DEFAULT = ("embedding", "unembedding", "norm", "bias", "position", "vocab_bias", "router")


def _part(leaf, expert: bool = False) -> str:
    if leaf.name == "router":
        return "router"
    if leaf.kind == "vocab_bias":
        return "bias"
    kind = leaf.kind or "matrix"
    return "expert" if expert and kind == "matrix" else kind


@dataclass(frozen=True)
class QuantScheme:
    matrices: str = "bf16"
    keep: str = "bf16"  # what embeddings, unembedding, norms, biases and routers stay in
    overrides: tuple[tuple[str, str], ...] = ()  # (part, format)

    def format_for(self, part: str) -> Format:
        for p, f in self.overrides:
            if p == part:
                return parse_format(f)
        if part == "expert":  # an expert's matrix without its own override: as every matrix
            return self.format_for("matrix")
        return parse_format(self.keep if part in KEEP_BY_DEFAULT else self.matrices)


def parse_overrides(items: list[str] | None) -> tuple[tuple[str, str], ...]:
    out = []
    for item in items or []:
        if "=" not in item:
            raise WorkloadError(f"--quant-part {item!r}: expected PART=FORMAT, e.g. router=bf16")
        part, fmt = (x.strip() for x in item.split("=", 1))
        if part not in PARTS:
            raise WorkloadError(f"--quant-part {item!r}: part must be one of {', '.join(PARTS)}")
        parse_format(fmt)
        out.append((part, fmt))
    return tuple(out)


def _shape(leaf) -> tuple[int, int]:
    """(rows, cols) of a description Weight or a parameter-tree leaf."""
    if isinstance(leaf, Weight):
        return leaf.rows, leaf.cols
    return leaf.shape or (leaf.value, 1)


def leaf_bits(scheme: QuantScheme, leaf, expert: bool = False) -> int:
    """Exact bits of one instance of a weight (or parameter-tree leaf) under ``scheme``; ``expert``:
    it sits inside a routed part (the ``expert`` override applies)."""
    part = _part(leaf, expert)
    fmt = scheme.format_for(part)
    rows, cols = _shape(leaf)
    if part in ("norm", "bias", "vocab_bias", "position") and cols == 1:
        rows, cols = 1, rows * cols  # a vector: its blocks run along its length
    return fmt.bits_for(rows, cols)


@dataclass(frozen=True)
class QuantLeaf:
    format: str
    shape: tuple[int, int]
    count: int  # instances in the model
    bits_each: int

    @property
    def bits_per_weight(self) -> Fraction:
        return Fraction(self.bits_each, max(self.shape[0] * self.shape[1], 1))


@dataclass(frozen=True)
class QuantizedWeights:
    """Bits per leaf (one instance and all of them), per block and in total."""

    scheme: QuantScheme
    bits: int
    params: int
    block_bits: int  # one block of the kind most layers have
    block_params: int
    leaves: dict[str, QuantLeaf]  # by path below the model, e.g. blocks.block.attention.heads.head.query
    formats: dict[str, str]  # part -> its format's source

    @property
    def bytes(self) -> int:
        return -(-self.bits // 8)

    @property
    def bytes_per_block(self) -> int:
        return -(-self.block_bits // 8)

    @property
    def bits_per_weight(self) -> Fraction:
        return Fraction(self.bits, self.params)

    @property
    def bits_per_weight_per_block(self) -> Fraction | None:
        return Fraction(self.block_bits, self.block_params) if self.block_params else None


def quantized(a: Architecture, scheme: QuantScheme) -> QuantizedWeights:
    """Bits per leaf (one instance and all of them), per block and in total; bits per weight."""
    tree = count_params(a)
    main = main_block(tree)  # per-block figures describe the kind most layers have
    inside = f"model.blocks.{main.name}."
    leaves, total_bits, total_params, block_bits, block_params = {}, 0, 0, 0, 0
    for path, leaf, times in tree.leaves():
        expert = ".expert." in f".{path}."
        fmt = scheme.format_for(_part(leaf, expert))
        rows, cols = _shape(leaf)
        bits = leaf_bits(scheme, leaf, expert)
        total_bits += bits * times
        total_params += leaf.value * times
        if path.startswith(inside):
            block_bits += bits * times // main.count
            block_params += leaf.value * times // main.count
        leaves[path.removeprefix("model.")] = QuantLeaf(fmt.name, (rows, cols), times, bits)
    formats = {p: scheme.format_for(p).source for p in ("matrix",) + KEEP_BY_DEFAULT[:-2] + ("router",)}
    return QuantizedWeights(scheme, total_bits, total_params, block_bits, block_params, leaves, formats)
