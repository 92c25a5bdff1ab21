"""Presentation: every table through one renderer, readable at 60, 80 and 120 columns, an exact
number never cut or wrapped, labels that say what the value is, --format on every command.

The numbers checked on screen are the ones the JSON document of the same command holds, so the
test reads them from the document, not from a copy of our own output."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from fractions import Fraction

import pytest
from rich.cells import cell_len

from .conftest import GOLDEN

FOUR = ["gpt3", "llama-2-70b", "llama-3-70b", "mixtral-8x7b"]
TWELVE = ["gpt2-small", "gpt2-xl", "gpt3-small", "gpt3", "bert-base", "llama-2-7b", "llama-2-70b", "llama-3-8b",
          "llama-3-70b", "mistral-7b", "mixtral-8x7b", "palm-540b"]
WIDTHS = (60, 80, 120)


def shown(n: int | Fraction, out: str) -> bool:
    """The exact number, with separators, as one unbroken token of the output."""
    text = f"{int(n):,}"
    return re.search(rf"(?<![\d,.]){re.escape(text)}(?![\d,])", out) is not None


def lines_fit(out: str, width: int) -> None:
    for line in out.splitlines():
        if cell_len(line) > width:  # only a single number wider than the whole width may overflow
            assert re.fullmatch(r"\s*[\d,]+\s*\S?", line), (width, line)


def ints(doc, prefix=""):
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from ints(v, f"{prefix}.{k}" if prefix else k)
    elif isinstance(doc, int) and not isinstance(doc, bool):
        yield prefix, doc


def count_figures(doc: dict) -> dict[str, int]:
    """The figures of `count`'s rows, read from its JSON document."""
    p, f, m = doc["params"], doc["flops"], doc["memory"]
    keys = {k: v for k, v in ints(p, "params") if not k.startswith("params.attention.shapes")}
    keys |= {k: v for k, v in ints(p["conventions"], "conventions")}
    fwd = f["forward"]
    keys |= {"forward.total": fwd["total"], "forward.per_block": fwd["per_block"], "forward.blocks": fwd["blocks"],
             "forward.attention.per_head": fwd["attention"]["per_head"],
             "forward.attention.per_block": fwd["attention"]["per_block"],
             "forward.attention.total": fwd["attention"]["total"], "forward.mlp.per_block": fwd["mlp"]["per_block"],
             "forward.unembedding": fwd["unembedding"], "decode.total": f["decode"]["total"],
             "decode.per_block": f["decode"]["per_block"], "decode.per_head": f["decode"]["attention"]["per_head"]}
    keys |= {f"forward.per_head.{k}": v for k, v in fwd["attention"]["per_head_parts"].items()}
    keys |= {f"estimate.{k}": e["value"] for k, e in f["estimates"].items()}
    keys |= {f"scaling.{r['seq']}": r["forward"] for r in f["scaling"]}
    keys |= {"weights": m["weights"]["total"], "weights.per_block": m["weights"]["per_block"],
             "kv.per_token": m["kv_cache"]["per_token"], "kv.total": m["kv_cache"]["total"],
             "training_state": m["training"]["total"]}
    return keys


@pytest.fixture
def at(cli, monkeypatch):
    def run(width: int, *args: str):
        monkeypatch.setenv("COLUMNS", str(width))
        r = cli(*args)
        assert r.code == 0 and r.err == "", r.err
        return r.out

    return run


@pytest.mark.parametrize("width", WIDTHS)
def test_count_gpt3_screen(at, cli, width):
    out = at(width, "count", "gpt3")
    doc = json.loads(cli("count", "gpt3", "--format", "json").out)
    missing = [k for k, v in count_figures(doc).items() if v and not shown(v, out)]
    assert not missing, missing
    lines_fit(out, width)
    # the most important figure first: the total on the first line
    assert out.splitlines()[0] == "gpt3: 174,604,259,328 parameters (174.6B)"


def test_count_summary_is_the_headline(cli):
    r = cli("count", "gpt3", "-q")
    assert r.code == 0
    # the 3Blue1Brown chapter's figures for GPT-3: one head 6,291,456, all heads 57,982,058,496
    for n in ("174,604,259,328", "6,291,456", "57,982,058,496"):
        assert shown(int(n.replace(",", "")), r.out), n
    assert "KV cache bytes per token" in r.out and "weights" in r.out and "forward FLOPs per token" in r.out
    assert len(r.out.splitlines()) < 12 and "counting conventions" not in r.out
    assert cli("count", "gpt3", "--summary").out == r.out


@pytest.mark.parametrize("models", [FOUR, TWELVE], ids=["4", "12"])
@pytest.mark.parametrize("width", (60, 80, 100, 120))
def test_compare_screen(at, cli, models, width):
    out = at(width, "compare", *models)
    doc = json.loads(cli("compare", *models, "--format", "json").out)
    for row in doc["rows"]:
        for v in row["values"]:
            if isinstance(v, int):
                assert shown(v, out), (row["key"], v)
            elif isinstance(v, dict) and v["denominator"] == 1:
                assert shown(v["numerator"], out), (row["key"], v)
    for name in models:
        assert name in out
    lines_fit(out, width)
    assert f"compare at seq {doc['workload']['seq']:,}" in out


def test_compare_uses_one_workload(cli):
    doc = json.loads(cli("compare", "llama-2-7b", "llama-3-8b", "--format", "json").out)
    assert doc["workload"]["seq"] == 4096  # the smaller n_ctx (Llama 2: 4,096; Llama 3: 8,192)
    assert {m["flops"]["workload"]["seq"] for m in doc["models"]} == {4096}
    doc = json.loads(cli("compare", "llama-2-7b", "llama-3-8b", "--seq", "512", "--format", "json").out)
    assert {m["flops"]["workload"]["seq"] for m in doc["models"]} == {512}


def test_compare_accepts_model_refs(cli):
    """MODEL:field=value: Llama 3 8B with 32 KV heads has the KV cache of multi-head attention,
    2 x 32 layers x 32 heads x 128 x 2 bytes = 524,288 bytes per token (vs 131,072 with 8)."""
    doc = json.loads(cli("compare", "llama-3-8b", "llama-3-8b:n_kv_heads=32", "--format", "json").out)
    kv = next(r for r in doc["rows"] if r["key"] == "kv_cache_per_token")
    assert kv["values"] == [131_072, 524_288]


@pytest.mark.parametrize("width", WIDTHS)
def test_list_screen(at, cli, width):
    out = at(width, "list")
    presets = json.loads(cli("list", "--format", "json").out)["presets"]
    for p in presets:
        assert p["name"] in out and shown(p["total"], out), p["name"]
        for key in ("n_layers", "n_heads", "n_kv_heads"):
            assert shown(p[key], out)
    lines_fit(out, width)


def test_list_sorted_by_family_then_size(cli):
    presets = json.loads(cli("list", "--format", "json").out)["presets"]
    keys = [(p["family"].lower(), p["total"]) for p in presets]
    assert keys == sorted(keys)
    out = cli("list").out
    positions = [out.index(f"\n{p['name']} ") for p in presets]
    assert positions == sorted(positions)  # the table in the same order
    assert "arXiv" not in out  # sources are for `show`


def test_columns_zero_and_unset_mean_80(at):
    out = at(0, "count", "gpt3")
    assert "174,604,259,328" in out
    lines_fit(out, 80)


def test_macs_values_are_never_labelled_flop(cli):
    r = cli("count", "gpt3", "--macs", "--tokens", "300e9")
    blocks = r.out.split("\n\n")
    for b in blocks:
        if b.startswith("published estimates (FLOPs)"):
            continue  # the estimates are FLOPs by definition, and say so
        assert not re.search(r"\d [KMGTPEZY]?FLOP\b", b), b
        assert "PF-days" not in b or "as FLOPs: 2 per MAC" in b
    assert re.search(r"\d [KMGTPEZY]?MAC\b", r.out)
    # estimates compared in FLOPs either way: the same exact ÷ estimate ratios with and without --macs
    ratios = re.findall(r"(\d\.\d{4})\n", r.out)
    assert ratios and ratios == re.findall(r"(\d\.\d{4})\n", cli("count", "gpt3", "--tokens", "300e9").out)


def test_estimates_column_says_exact_over_estimate(cli):
    out = cli("count", "gpt3", "--tokens", "300e9").out
    block = next(b for b in out.split("\n\n") if b.startswith("published estimates"))
    assert "exact ÷ estimate" in block.splitlines()[1] and "share" not in block.splitlines()[1]
    # GPT-3 Table D.1: 6ND for 175B on 300B tokens is 3.14e23 FLOPs; exact causal count is 1.36% more
    assert "6ND" in block and "1.0136" in block


def test_qwen2_names_only_its_biases(cli):
    """Qwen2 has biases on q, k, v and none on o_proj (transformers modeling_qwen2.py)."""
    out = cli("count", str(GOLDEN / "hf_configs" / "qwen2-7b.json")).out
    row = next(line for line in out.splitlines() if line.startswith("attention biases"))
    assert "query/key/value biases" in row and "output" not in row
    gpt3 = next(line for line in cli("count", "gpt3").out.splitlines() if line.startswith("attention biases"))
    assert "output bias" in gpt3


def test_sliding_window_decode_note(cli):
    mistral = cli("count", "mistral-7b").out  # window 4,096 (Jiang et al. 2023, Table 1)
    assert "window of 4,096 tokens" in mistral and "grows linearly" not in mistral
    assert "decode grows linearly with the context" in cli("count", "llama-3-8b").out


def test_kv_formula_has_bytes_per_element(cli):
    out = cli("count", "llama-3-8b").out
    assert "2 × 32 layers × 8 kv heads × 128 × 2 bytes (bf16)" in out
    assert "× 1/2 bytes (int4)" in cli("count", "llama-3-8b", "--kv-dtype", "int4").out


def test_show_only_what_applies(cli):
    out = cli("show", "llama-3-8b").out
    norm_bias = next(line for line in out.splitlines() if line.startswith("norm_bias"))
    assert "n/a" in norm_bias and "true" not in norm_bias
    assert "128,256" in out  # vocab_size with separators
    assert re.search(r"norm_bias +true", cli("show", "gpt3").out)  # LayerNorm with bias: applies


def test_user_strings_are_not_markup(cli, tmp_path, monkeypatch):
    f = tmp_path / "m.toml"
    f.write_text('name = "[bold]evil[/bold]"\nnotes = "[red]x[/red] [link=http://e]y"\nvocab_size = 10\n'
                 'd_model = 8\nn_layers = 2\nn_heads = 2\n')
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("FORCE_COLOR", "1")  # the styled (Rich) path
    for args in (("show", str(f)), ("count", str(f)), ("explain", str(f)), ("compare", str(f), "gpt2-small")):
        r = cli(*args)
        plain = re.sub(r"\x1b\[[0-9;]*m", "", r.out)
        assert r.code == 0 and "[bold]evil[/bold]" in plain, args
    assert "[red]x[/red] [link=http://e]y" in re.sub(r"\x1b\[[0-9;]*m", "", cli("show", str(f)).out)


def test_no_color_means_no_escape_codes(cli):
    assert "\x1b[" not in cli("count", "gpt3").out


COMMANDS = {
    "count": ["count", "gpt2-small"], "explain": ["explain", "gpt2-small"], "compare": ["compare", "gpt2-small", "gpt3"],
    "diff": ["diff", "gpt2-small", "gpt2-small:n_layers=6"], "check": ["check", "gpt2-small", "--max-params", "1B"],
    "fit": ["fit", "gpt2-small", "--serve"], "list": ["list"], "show": ["show", "gpt2-small"],
    "init": ["init", "x", "--stdout"], "run": ["run", "gpt2-small"],
}


@pytest.mark.parametrize("fmt", ["table", "json", "csv", "markdown"])
@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_command_gives_or_refuses_each_format(cli, command, fmt):
    if command == "run" and fmt in ("table", "json"):
        pytest.skip("executes the kernel: tests/test_run_cli.py")
    r = cli(*COMMANDS[command], "--format", fmt)
    if r.code == 2:
        assert r.out == "" and len(r.err.strip().splitlines()) == 1 and "--format" in r.err, r.err
    else:
        assert r.code == 0 and r.out, r.err
        if fmt == "json":
            assert json.loads(r.out)["schema_version"] == 1


def test_summary_refuses_machine_formats(cli):
    for fmt in ("json", "csv"):
        r = cli("count", "gpt3", "--summary", "--format", fmt)
        assert r.code == 2 and r.out == "" and "--summary" in r.err and len(r.err.splitlines()) == 1


def test_explain_formats(cli):
    doc = json.loads(cli("explain", "gpt3", "--format", "json").out)
    steps = doc["steps"]
    assert all(set(s) == {"section", "text", "factors", "result"} for s in steps)
    head = next(s for s in steps if s["text"].startswith("one head ="))
    assert head["result"] == 6_291_456 and head["section"] == "one head"  # the 3Blue1Brown chapter's figure
    plain = cli("explain", "gpt3", "--plain").out
    assert "  query W_Q = d_head × d_model = 128 × 12,288 = 1,572,864" in plain
    csv_out = cli("explain", "gpt3", "--format", "csv").out.splitlines()
    assert csv_out[0] == "table,step,factors,result" and any(line.endswith(",6291456") for line in csv_out)
    assert "| query W_Q = d_head × d_model | 128 × 12,288 | 1,572,864 |" in cli("explain", "gpt3", "--format", "markdown").out
    assert cli("explain", "gpt3", "--plain", "--format", "json").code == 2


def test_bare_attncalc_prints_help_on_stderr_exit_2(cli):
    r = cli()
    assert r.code == 2 and r.out == ""
    assert "Usage" in r.err and r.err.index(" count ") < r.err.index(" list ") < r.err.index(" run ")
    h = cli("--help")
    assert h.code == 0 and "Usage" in h.out and h.out.index(" count ") < h.out.index(" compare ")


def test_ascii_only_stdout(tmp_path):
    env = {**os.environ, "PYTHONIOENCODING": "ascii", "NO_COLOR": "1", "COLUMNS": "80"}
    for args in (["count", "gpt3"], ["compare", *FOUR], ["list"]):
        p = subprocess.run([sys.executable, "-m", "attncalc", *args], capture_output=True, text=True, env=env,
                           timeout=60, encoding="ascii", errors="strict")
        assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr
        assert "174,604,259,328" in p.stdout


# --- the renderer alone ---------------------------------------------------------------------------------


def test_renderer_never_breaks_a_number_wider_than_the_width():
    from attncalc.present.tables import EXACT, TEXT, Column, Table, page_text

    t = Table("t", (Column("item", TEXT), Column("how", TEXT, fold=True, drop=1), Column("exact", EXACT)))
    big = 10**40 + 123
    t.add("a", "some words that explain", big)
    for width in (10, 30, 200):
        out = page_text([t], width)
        assert f"{big:,}" in out
        for line in out.splitlines():
            assert cell_len(line) <= width or line.strip() == f"{big:,}" or len(line.split()) == 1, line


def test_exact_text_of_fractions():
    from attncalc.present.tables import exact_text

    assert exact_text(Fraction(7, 2)) == "3.5"
    assert exact_text(Fraction(10**12 + 1, 8)) == "125,000,000,000.125"
    assert exact_text(Fraction(1, 3)) == "≈0.33"
    assert exact_text(Fraction(-5, 4)) == "-1.25"
    assert exact_text(12345) == "12,345"
