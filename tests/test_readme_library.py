"""The README's library example runs as written and its commented results hold."""

from __future__ import annotations

import re

from .conftest import ROOT


def test_library_example_runs_and_says_true():
    text = (ROOT / "README.md").read_text()
    block = re.search(r"## Library\n.*?```python\n(.*?)```", text, re.S).group(1)
    scope: dict = {}
    for line in block.splitlines():
        code, _, comment = line.partition("#")
        code = code.strip()
        if not code:
            continue
        if "=" in code.split("(")[0] or code.startswith(("from ", "import ")):
            exec(code, scope)
            continue
        value = eval(code, scope)
        expected = re.match(r"\s*(\[.*\]|\d+)", comment)
        if expected:
            assert value == eval(expected.group(1)), (code, value)
