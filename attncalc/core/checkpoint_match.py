"""A checkpoint's tensors against the count, tensor by tensor: which weights of the description each
tensor holds (spec.tensor_names, per family), what the count expects that the files lack
(``missing``), what the files hold that the count does not model (``unexpected``, each with the
reason: quantization scales, buffers, multi-token-prediction layers, towers), groups whose sizes
differ (``mismatched``), and the parts of the description no name table maps (``unmapped``).

The headers come from spec.checkpoint (never the data). Parameters of a group are compared as
element counts, so a tensor stored transposed (GPT-2's Conv1D) or stacked (fused experts, GGUF's
``ffn_up_exps``) reconciles with the description's matrices; packed 4-bit tensors count two
parameters a byte (``Tensor.params``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Iterator

from ..spec.arch import Architecture
from ..spec.checkpoint import Checkpoint, Tensor
from ..spec.tensor_names import COMMON_REASONS, NAME_TABLES, NameTable
from .evaluate import count_params
from .parts.base import Part, Weight
from .parts.model import describe, kinds_in

HEAD_PARTS = ("heads", "head", "kv_groups", "group")


@dataclass(frozen=True)
class Group:
    layer: int | None  # None: outside the blocks
    ours: tuple[str, ...]
    expected: int  # parameters of our weights in this group
    names: tuple[str, ...]  # the tensors expected to hold them
    found: int  # parameters of those of them the checkpoint has


@dataclass(frozen=True)
class Reconciliation:
    format: str
    files: tuple[str, ...]
    tensors: int
    params: int
    bytes: int
    by_dtype: dict[str, dict[str, int]]
    names: str | None  # the name table used (a model type), None when none maps this model
    prefix: str = ""
    count_params: int = 0  # the count's total (what the description holds)
    matched_params: int = 0  # checkpoint parameters in tensors a group claims
    missing: list[str] = field(default_factory=list)
    unexpected: list[dict] = field(default_factory=list)  # name, shape, dtype, params, reason
    unexpected_by_reason: dict[str, dict[str, int]] = field(default_factory=dict)
    mismatched: list[dict] = field(default_factory=list)  # layer, ours, expected, found, names
    unmapped: list[dict] = field(default_factory=list)  # description paths no table entry maps, with parameters
    architecture: str | None = None  # GGUF: general.architecture
    notes: list[str] = field(default_factory=list)


def leaves(node: Part, path: str = "", copies: int = 1) -> Iterator[tuple[str, Weight, int]]:
    """(path, weight, copies in one instance of ``node``), head groupings left out of the path;
    tied weights (held elsewhere) left out."""
    for c in node.children:
        if isinstance(c, Weight):
            if not c.shared and c.rows * c.cols:
                yield (f"{path}.{c.name}" if path else c.name), c, copies
        elif isinstance(c, Part):
            here = path if c.name in HEAD_PARTS else (f"{path}.{c.name}" if path else c.name)
            yield from leaves(c, here, copies * c.count)


def _fill(template: str, prefix: str, i: int | None, copies: int) -> list[str]:
    t = template.replace("{p}", prefix)
    if i is not None:
        t = t.replace("{i}", str(i)).replace("{L}", str(i // 2)).replace("{j}", str(i % 2))
    if "{e}" in t:
        return [t.replace("{e}", str(e)) for e in range(copies)]
    return [t]


def reconcile(a: Architecture, ck: Checkpoint, family: str | None = None) -> Reconciliation:
    base = Reconciliation(ck.format, ck.files, len(ck.tensors), ck.params, ck.bytes, ck.by_dtype(), None,
                          count_params=count_params(a).total)
    if ck.format == "gguf":
        base = replace(base, architecture=ck.metadata.get("general.architecture"))
    table = NAME_TABLES.get("gguf" if ck.format == "gguf" else (family or a.family))
    if table is None:
        return replace(base, notes=[f"no tensor-name table for model type {family or a.family!r}: the files' "
                                    "contents are given, not reconciled with the count"])
    held = {t.name: t for t in ck.tensors}
    best = None
    for prefix in table.prefixes:
        groups, unmapped = _groups(a, table, prefix, held)
        hits = sum(1 for g in groups for nm in g.names if nm in held)
        if best is None or hits > best[0]:
            best = (hits, prefix, groups, unmapped)
    _, prefix, groups, unmapped = best
    claimed = {nm for g in groups for nm in g.names}
    missing = [nm for g in groups for nm in g.names if nm not in held]
    mismatched = [{"layer": g.layer, "weights": list(g.ours), "expected": g.expected, "found": g.found,
                   "tensors": list(g.names)} for g in groups
                  if g.found != g.expected and all(nm in held for nm in g.names)]
    layers = 1 + max((int(m.group(1)) for nm in claimed if (m := re.search(r"(?:^|\.)(?:layers|h|blk)\.(\d+)\.", nm))),
                     default=-1)
    unexpected, by_reason = [], {}
    for t in ck.tensors:
        if t.name in claimed:
            continue
        why = _reason(t, table, layers)
        unexpected.append({"name": t.name, "shape": list(t.shape), "dtype": t.dtype, "params": t.params, "reason": why})
        row = by_reason.setdefault(why, {"tensors": 0, "params": 0, "bytes": 0})
        row["tensors"] += 1
        row["params"] += t.params
        row["bytes"] += t.nbytes
    matched = sum(held[nm].params for nm in claimed if nm in held)
    return replace(base, names="gguf" if ck.format == "gguf" else (family or a.family), prefix=prefix,
                   matched_params=matched, missing=missing, unexpected=unexpected, unexpected_by_reason=by_reason,
                   mismatched=mismatched, unmapped=unmapped)


def _reason(t: Tensor, table: NameTable, layers: int) -> str:
    for pattern, why in table.reasons + COMMON_REASONS:
        m = re.search(pattern, t.name)
        if not m:
            continue
        layer = m.groupdict().get("layer")
        if layer is not None and int(layer) < layers:
            continue  # a layer the model has: not beyond it
        return why
    return "not in attncalc's description of this model"


def _groups(a: Architecture, table: NameTable, prefix: str, held: dict[str, Tensor]) -> tuple[list[Group], list[dict]]:
    model = describe(a)
    groups: list[Group] = []
    unmapped: dict[str, int] = {}
    blocks = next(c for c in model.children if c.name == "blocks")
    kinds = {k.name: k for k in blocks.children}
    per_kind = {name: list(leaves(kind)) for name, kind in kinds.items()}
    for i in range(a.n_layers):
        (name,) = kinds_in(a, i, i + 1)
        groups += _match(per_kind[name], table.layer, prefix, i, held, unmapped, "blocks")
    outside: list[tuple[str, Weight, int]] = []
    for c in model.children:
        if c.name == "blocks":
            continue
        if isinstance(c, Weight):
            if not c.shared and c.rows * c.cols:
                outside.append((c.name, c, 1))
        elif isinstance(c, Part):
            outside += [(f"{c.name}.{p}", w, n * c.count) for p, w, n in leaves(c)]
    groups += _match(outside, table.model, prefix, None, held, unmapped, "model")
    return groups, [{"weight": k, "params": v} for k, v in unmapped.items()]


def _match(ours: list[tuple[str, Weight, int]], entries, prefix: str, i: int | None, held: dict[str, Tensor],
           unmapped: dict[str, int], where: str) -> list[Group]:
    elements: dict[str, int] = {}
    copies_of: dict[str, int] = {}
    for path, w, copies in ours:  # a path holds one weight (its copies: experts, streams, numbered norms)
        elements[path] = elements.get(path, 0) + w.rows * w.cols * copies
        copies_of.setdefault(path, copies)
    used: set[str] = set()
    out = []
    for ours_paths, alternatives in entries:
        present = [p for p in ours_paths if p in elements and p not in used]
        if not present:  # the model has none of these weights, or an earlier entry claimed them
            continue
        used.update(present)
        expected = sum(elements[p] for p in present)
        n_copies = copies_of[present[0]]
        best = None
        for alt in alternatives:
            names = tuple(nm for t in alt for nm in _fill(t, prefix, i, n_copies))
            have = [nm for nm in names if nm in held]
            found = sum(held[nm].params for nm in have)
            score = (len(have) == len(names), found == expected, len(have))
            if best is None or score > best[0]:
                best = (score, names, found)
        out.append(Group(i, tuple(present), expected, best[1], best[2]))
    for p, n in elements.items():
        if p not in used:
            key = f"{where}: {p}"
            unmapped[key] = unmapped.get(key, 0) + n
    return out
