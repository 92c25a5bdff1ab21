"""Steps every state mixer's `explain` section shares (present.mixers, present.linear_mixers): its
matrices one by one with their shapes, and its products in the forward pass, read from the
Report's trees."""

from __future__ import annotations

from ..core.report import Report
from ..core.tree import Node
from .explain import Step, n


def matrix_steps(node: Node, count: int, where: str) -> list[Step]:
    steps = []
    for _, leaf, times in node.walk():
        if leaf.children or leaf.shape is None:
            continue
        r, c = leaf.shape
        steps.append(Step(f"{leaf.label} = {leaf.formula}", f"{n(r)} × {n(c)}", leaf.value))
    steps.append(Step(f"{node.label}, one {where}", " + ".join(n(c.total) for c in node.children), node.each))
    steps.append(Step(f"{node.label} in all {count} {where}s", f"{count} × {n(node.each)}", count * node.each))
    return steps


def forward_steps(report: Report, name: str, word: str) -> list[Step]:
    """A state mixer's products in the forward pass, one layer (the first kind that has it)."""
    fwd = report.flops.forward.tree
    f_kind = next(k for k in fwd.get("blocks").children if k.get(name) is not None)
    fm = f_kind.child(name)
    steps = [Step(f"forward: {leaf.label}", leaf.formula, leaf.value) for leaf in fm.children if leaf.kind == "matmul"]
    steps.append(Step(f"forward: {fm.label}, one {word}", "the products above"
                      + (" + element-wise" if report.flops.forward.elementwise else ""), fm.each))
    return steps
