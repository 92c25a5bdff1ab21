"""Presets ship inside the wheel and are found there, as they are found from a checkout."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile

from attncalc.spec.load import preset_dirs, preset_names

from .conftest import ROOT


def test_presets_found_from_the_checkout():
    assert ROOT / "presets" in preset_dirs() or any(d.name == "presets_data" for d in preset_dirs())
    assert {p.stem for p in (ROOT / "presets").glob("*.toml")} == set(preset_names())


def test_wheel_carries_the_presets_and_finds_them(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path), str(ROOT)], check=True, capture_output=True, timeout=300)
    wheel = next(tmp_path.glob("attncalc-*.whl"))
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        z.extractall(site)
    shipped = {n.rsplit("/", 1)[-1][:-5] for n in names if n.startswith("attncalc/presets_data/") and n.endswith(".toml")}
    assert shipped == set(preset_names())
    hardware = {n.rsplit("/", 1)[-1][:-5] for n in names if n.startswith("attncalc/hardware_data/") and n.endswith(".toml")}
    assert hardware == {p.stem for p in (ROOT / "hardware").glob("*.toml")} and "h100-sxm" in hardware
    assert "attncalc/runs_data/registry.json" in names  # `attncalc reconcile`'s registry of published runs
    code = ("import attncalc.spec.load as p, json; "
            "print(json.dumps([str(d) for d in p.preset_dirs()]), p.load_preset('gpt3').n_layers)")
    env = {**os.environ, "PYTHONPATH": str(site)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path,
                         check=True).stdout
    dirs, layers = out.rsplit(" ", 1)
    assert str(site / "attncalc" / "presets_data") in dirs and str(ROOT) not in dirs and layers.strip() == "96"
