"""The result tree: named nodes holding exact integers, with multiplicities.

One tree serves every view. A leaf holds a value per instance (parameters of one matrix, FLOPs of
one matmul); an inner node sums its children. ``count`` says how many identical instances the parent
holds (96 heads, 96 blocks, 8 experts), so ``total = count * each`` and the invariants
(heads x per-head + biases = attention; blocks x per-block + the rest = model) hold by construction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator


@dataclass(frozen=True)
class Node:
    name: str
    label: str = ""
    value: int = 0  # leaf: the value of ONE instance
    count: int = 1
    children: tuple["Node", ...] = ()
    shape: tuple[int, int] | None = None  # (rows, cols) of a matrix leaf
    formula: str = ""  # how `value` was computed, with names (a leaf) e.g. "d_head x d_model"
    kind: str = ""  # "matrix", "bias", "norm", "embedding", … for the counting conventions
    units: int = 0  # an attention core or product leaf: what one head runs over (its pairs), all sequences

    @property
    def each(self) -> int:
        """The value of one instance: a leaf's value, or the sum over children."""
        if not self.children:
            return self.value
        return sum(c.total for c in self.children)

    @property
    def total(self) -> int:
        return self.count * self.each

    def child(self, name: str) -> "Node":
        for c in self.children:
            if c.name == name:
                return c
        raise KeyError(f"{self.name} has no child {name!r}")

    def get(self, path: str) -> "Node | None":
        """Find a descendant by a dotted path of names, e.g. 'blocks.block.attention'."""
        node: Node | None = self
        for part in path.split("."):
            if node is None:
                return None
            node = next((c for c in node.children if c.name == part), None)
        return node

    def total_at(self, path: str) -> int:
        """The total of a descendant, or 0 when the model has no such part."""
        node = self.get(path)
        return node.total if node else 0

    def first_leaves(self, names: tuple[str, ...]) -> dict[str, "Node"]:
        """The first leaf of each name, in the order of ``names`` (one head's matrices, say)."""
        found: dict[str, Node] = {}
        for _, n, _ in self.walk():
            if not n.children and n.name in names:
                found.setdefault(n.name, n)
        return {k: found[k] for k in names if k in found}

    def walk(self, multiplier: int = 1, path: str = "") -> Iterator[tuple[str, "Node", int]]:
        """Yield (dotted path, node, how many times it occurs in the whole tree)."""
        here = f"{path}.{self.name}" if path else self.name
        times = multiplier * self.count
        yield here, self, times
        for c in self.children:
            yield from c.walk(times, here)

    def sum_kind(self, *kinds: str) -> int:
        """Total over all leaves whose kind is one of ``kinds`` (multiplicities applied)."""
        return sum(n.value * t for _, n, t in self.walk() if not n.children and n.kind in kinds)

    def leaves(self) -> Iterator[tuple[str, "Node", int]]:
        return ((p, n, t) for p, n, t in self.walk() if not n.children)


def leaf(name: str, label: str, rows: int, cols: int, formula: str, kind: str = "matrix") -> Node:
    """A matrix (or a vector, cols == 1) of rows x cols parameters."""
    return Node(name, label, rows * cols, shape=(rows, cols), formula=formula, kind=kind)


def group(name: str, label: str, *children: Node | None, count: int = 1) -> Node:
    """An inner node; ``None`` children (absent parts), empty groups and zero leaves are dropped."""
    kept = tuple(c for c in children if c is not None and (c.children or c.value))
    return Node(name, label, count=count, children=kept)
