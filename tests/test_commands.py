"""compare, check (through the real console script), explain, init, --set and from-scratch models."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from .conftest import ROOT

FOUR = ["gpt3", "llama-2-70b", "llama-3-70b", "mixtral-8x7b"]


def test_compare_fits_120_columns_and_marks_extremes(cli):
    r = cli("compare", *FOUR)
    assert r.code == 0 and r.err == ""
    assert max(len(line) for line in r.out.splitlines()) <= 120
    assert "▲" in r.out and "▼" in r.out and "×0.40" in r.out and "█" in r.out and "▓" in r.out


def test_compare_json_is_count_json_for_each_model(cli):
    # one workload for every column: the smallest n_ctx among the models (gpt3's 2,048), stated
    out = json.loads(cli("compare", *FOUR, "--format", "json").out)
    assert out["workload"]["seq"] == 2048
    for name, doc in zip(FOUR, out["models"]):
        assert doc == json.loads(cli("count", name, "--seq", "2048", "--format", "json").out)


def test_compare_csv_and_markdown(cli):
    out = cli("compare", "llama-2-7b", "llama-3-8b", "--format", "csv").out.splitlines()
    assert out[0] == "metric,llama-2-7b,llama-3-8b" and out[1] == "params_total,6738415616,8030261248"
    md = cli("compare", "llama-2-7b", "llama-3-8b", "--format", "markdown").out
    assert md.startswith("#### compare at seq 4,096") and "\n| figure | llama-2-7b | llama-3-8b |\n" in md


def console_script() -> list[str]:
    exe = shutil.which("attncalc")
    return [exe] if exe else [sys.executable, "-m", "attncalc"]


def check(*args: str, cwd=ROOT) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "120"}
    return subprocess.run([*console_script(), "check", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=120)


def test_check_exit_codes_through_the_console_script(tmp_path):
    ok = check("llama-2-7b", "--max-params", "7B", "--max-kv-cache", "4GiB", "--context", "4096")
    assert ok.returncode == 0 and ok.stdout.startswith("ok: llama-2-7b: 2 budgets hold") and len(ok.stdout.splitlines()) == 1
    bad = check("llama-2-7b", "--max-params", "6.5e9", "--max-kv-cache", "1GiB", "--context", "4096", "--min-params", "1B")
    assert bad.returncode == 1
    assert "max_params: parameters is 6,738,415,616" in bad.stdout and "limit <= 6,500,000,000" in bad.stdout
    assert "max_kv_cache: KV cache bytes is 2,147,483,648" in bad.stdout and "min_params" not in bad.stdout
    usage = check("llama-2-7b", "--max-params", "seven billion")
    assert usage.returncode == 2 and usage.stdout == "" and len(usage.stderr.splitlines()) == 1


def test_check_expect_params_with_tolerance():
    assert check("gpt3", "--expect-params", "175B", "--tolerance", "0.5%").returncode == 0
    assert check("gpt3", "--expect-params", "175B", "--tolerance", "0.1%").returncode == 1


def test_check_budgets_file_beside_the_model(tmp_path):
    model = tmp_path / "mine.toml"
    model.write_text('vocab_size = 32000\nd_model = 4096\nn_layers = 32\nn_heads = 32\nn_kv_heads = 8\n'
                     'd_ff = 14336\nmlp = "gated"\nnorm = "rmsnorm"\npositions = "rotary"\nn_ctx = 32768\n')
    (tmp_path / "mine.budgets.toml").write_text('[budgets]\nmax_params = "8B"\nmax_kv_cache = "4GiB"\ncontext = 32768\n')
    r = check(str(model))
    assert r.returncode == 0 and "2 budgets hold" in r.stdout and "using budgets from" in r.stderr
    (tmp_path / "mine.budgets.toml").write_text('max_params = "7B"\nmax_kv_cache = "4GiB"\ncontext = 32768\n')
    r = check(str(model), "--format", "json")
    doc = json.loads(r.stdout)
    assert r.returncode == 1 and doc["ok"] is False
    assert [b["name"] for b in doc["budgets"] if not b["ok"]] == ["max_params"]
    (tmp_path / "mine.budgets.toml").write_text('max_parms = "7B"\n')
    r = check(str(model))
    assert r.returncode == 2 and "max_parms: unknown budget; did you mean 'max_params'?" in r.stderr


def test_check_json_has_exact_actuals(cli):
    doc = json.loads(cli("check", "llama-3-8b", "--max-weights", "16GB", "--format", "json").out)
    assert doc["budgets"][0]["actual"] == 2 * 8_030_261_248 and doc["ok"] is False


def test_explain_gpt3_has_every_number_of_the_video_with_factors(cli):
    out = cli("explain", "gpt3", "--plain").out
    for line in ("query W_Q = d_head × d_model = 128 × 12,288 = 1,572,864",
                 "key W_K = d_head × d_model = 128 × 12,288 = 1,572,864",
                 "value-down W_V = d_head × d_model = 128 × 12,288 = 1,572,864",
                 "value-up (W_O slice) = d_model × d_head = 12,288 × 128 = 1,572,864",
                 "= 1,572,864 + 1,572,864 + 1,572,864 + 1,572,864 = 6,291,456",
                 "= 96 × 6,291,456 = 603,979,776",
                 "= 96 × 603,979,776 = 57,982,058,496",
                 "= 96 × 96 × 1,572,864 = 14,495,514,624",
                 "= 49,152 × 12,288 = 603,979,776",
                 "= 50,257 × 12,288 = 617,558,016",
                 "= 617,558,016 + 57,982,058,496 + 115,964,116,992 + 617,558,016 = 175,181,291,520",
                 "= 174,604,259,328"):
        assert line in out, line


def test_set_and_from_scratch(cli):
    base = json.loads(cli("count", "llama-2-7b", "--format", "json").out)
    gqa = json.loads(cli("count", "llama-2-7b", "--set", "n_kv_heads=8", "--format", "json").out)
    # 32 layers x 24 fewer key/value heads x 2 matrices x 128 x 4096
    assert base["params"]["total"] - gqa["params"]["total"] == 32 * 24 * 2 * 128 * 4096
    scratch = json.loads(cli("count", "--d-model", "4096", "--n-layers", "32", "--n-heads", "32", "--format", "json").out)
    assert scratch["params"]["attention"]["per_head"] == 4 * 128 * 4096


@pytest.mark.parametrize("args,needle", [
    (["compare", "gpt3", "gtp3"], "did you mean 'gpt3'"),
    (["count", "gpt3", "--set", "n_haeds=8"], "--set: n_haeds: unknown field; did you mean 'n_heads'?"),
    (["count", "gpt3", "--set", "n_heads=0"], "n_heads: must be a positive integer, got 0"),
    (["count", "gpt3", "--set", "n_heads"], "expected FIELD=VALUE"),
    (["count", "gpt3", "--set", "qkv_bias=maybe"], "qkv_bias: expected true or false"),
    (["check", "gpt3", "--max-kv-cache", "4 gigs"], "--max-kv-cache: cannot read '4 gigs'"),
    (["check", "gpt3"], "no budgets given"),
    (["check", "gpt3", "--max-kv-cache", "4GiB", "--context", "-1"], "--context must be an integer >= 0"),
    (["explain", "gpt3", "--seq", "0"], "--seq must be an integer >= 1"),
    (["count", "--d-model", "64"], "--n-layers, --n-heads"),
    (["show", "nosuch"], "unknown model 'nosuch'"),
])
def test_bad_input_across_commands(cli, args, needle):
    r = cli(*args)
    assert r.code == 2 and r.out == "" and needle in r.err and len(r.err.strip().splitlines()) == 1, r.err


def test_init_writes_a_template_that_counts(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli("init", "mine", "--from", "mistral-7b").code == 0
    doc = json.loads(cli("count", "mine.toml", "--format", "json").out)
    assert doc["params"]["total"] == 7_241_732_096 and doc["model"]["name"] == "mine"
    assert cli("init", "mine").code == 2
    assert cli("init", "fresh").code == 0 and cli("count", "fresh.toml").code == 0
