"""JSON snapshots of `count`, `fit` and `time` for every preset and every config.json in the tests.

The guard of every refactor (DESIGN.md, "Tests"): `tests/test_snapshots.py` re-runs each command
and requires every number recorded here to come out unchanged (keys may be added, never changed
or dropped). A commit that fixes a figure on purpose regenerates the snapshot and names the fix.

    python tests/snapshots/make_snapshots.py            # rewrite every snapshot
    python tests/snapshots/make_snapshots.py --check    # print the differences, write nothing
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
GOLDEN = ROOT / "tests" / "golden"

# name -> arguments after MODEL; each a command and workload the refactors must not change.
RUNS: dict[str, tuple[str, ...]] = {
    "count": ("count",),
    "count-context": ("count", "--context", "32768"),
    "count-tokens": ("count", "--tokens", "300e9"),
    "count-all-macs": ("count", "--ops", "all", "--macs"),
    # fit with its settings written out, so a change of default is not mistaken for a change of figure
    "fit-train": ("fit", "--seq", "4096", "--no-flash", "--dropout"),
    "fit-train-tp2-pp4": ("fit", "--seq", "4096", "--no-flash", "--dropout", "--tp", "2", "--pp", "4"),
    "fit-serve-tp1": ("fit", "--serve", "--context", "8192"),
    "fit-serve-tp8": ("fit", "--serve", "--context", "8192", "--tp", "8"),
    "time-h100": ("time", "--hw", "h100-sxm"),
}


def models() -> list[tuple[str, str]]:
    """(label, MODEL argument): every preset, then every config.json the tests read."""
    out = [(p.stem, p.stem) for p in sorted((ROOT / "presets").glob("*.toml"))]
    for folder in sorted(GOLDEN.glob("hf_configs*")):
        out += [(f"{folder.name}/{p.stem}", str(p)) for p in sorted(folder.glob("*.json"))
                if not p.name.endswith(".preprocessor.json")]
    return out


def run(argv: list[str]) -> dict:
    """One command in-process: its JSON document, or the one-line error and exit code."""
    from attncalc.cli import main

    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(argv + ["--format", "json"])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    if code in (0, 1) and out.getvalue().strip():
        # file paths inside the document (a config's source) are written relative to the checkout,
        # so the snapshot holds in any clone or worktree
        doc = json.loads(out.getvalue().replace(json.dumps(str(ROOT))[1:-1], "ROOT"))
        return doc if code == 0 else {"exit": code, "document": doc}
    return {"exit": code, "error": err.getvalue().strip().replace(str(ROOT), "ROOT")}


def snapshot(name: str) -> dict:
    args = RUNS[name]
    return {label: run([args[0], model, *args[1:]]) for label, model in models()}


def path(name: str) -> Path:
    return HERE / f"{name}.json.gz"


def load(name: str) -> dict:
    return json.loads(gzip.decompress(path(name).read_bytes()))


def write(name: str, doc: dict) -> None:
    data = json.dumps(doc, indent=0, sort_keys=True, ensure_ascii=False).encode()
    path(name).write_bytes(gzip.compress(data, mtime=0))


def differences(old, new, where: str = "") -> list[str]:
    """Every value of ``old`` that ``new`` lacks or changes (keys ``new`` adds are not differences)."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for k, v in old.items():
            if k not in new:
                out.append(f"{where}.{k}: missing (was {json.dumps(v)[:80]})")
            else:
                out += differences(v, new[k], f"{where}.{k}")
        return out
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [d for i, (a, b) in enumerate(zip(old, new)) for d in differences(a, b, f"{where}[{i}]")]
    if old != new:
        return [f"{where}: {json.dumps(old)[:120]} -> {json.dumps(new)[:120]}"]
    return []


def main() -> None:
    check = "--check" in sys.argv
    names = [a for a in sys.argv[1:] if not a.startswith("-")] or list(RUNS)
    for name in names:
        new = snapshot(name)
        if check:
            diffs = differences(load(name), new, name)
            print(f"{name}: {len(diffs)} differences")
            for d in diffs[:200]:
                print("  ", d)
        else:
            write(name, new)
            print(f"{name}: {len(new)} models, {path(name).stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
