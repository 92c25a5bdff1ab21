"""The command line: outputs, formats, conventions of the ecosystem, and bad input (exit 2, one line)."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys

import pytest

from .conftest import GOLDEN, ROOT


def test_count_gpt3_table_shows_the_seed_numbers(cli):
    r = cli("count", "gpt3")
    assert r.code == 0 and r.err == ""
    for n in ("1,572,864", "128 × 12,288", "6,291,456", "603,979,776", "57,982,058,496", "174,604,259,328",
              "175,181,291,520", "W_Q", "W_K", "W_V", "W_O", "1.57M", "174.6B", "33.2%"):
        assert n in r.out, n
    assert max(len(line) for line in r.out.splitlines()) <= 120


def test_json_schema_keys_and_exact_ints(cli):
    r = cli("count", "gpt3", "--tokens", "300e9", "--format", "json")
    doc = json.loads(r.out)
    p = doc["params"]
    assert doc["schema_version"] == 1
    assert p["total"] == 174_604_259_328 and p["per_block"] == 1_812_099_072
    assert p["attention"]["per_matrix"] == {"query": 1_572_864, "key": 1_572_864, "value_down": 1_572_864,
                                             "value_up": 1_572_864}
    assert p["attention"]["per_head"] == 6_291_456 and p["attention"]["heads_total"] == 57_982_058_496
    for key in ("per_block", "total"):
        assert isinstance(p["attention"][key], int) and isinstance(p["mlp"][key], int)
    assert isinstance(p["embedding"], int) and p["unembedding"] == 0
    f = doc["flops"]
    for key in ("total", "per_block"):
        assert isinstance(f["forward"][key], int)
    assert f["forward"]["attention"]["per_head"] > 0 and f["decode"]["total"] > 0
    assert f["training"]["total"] == 3 * f["training"]["forward"]
    assert set(f["estimates"]) == {"6ND", "kaplan", "palm", "chinchilla", "megatron"}
    assert f["convention"]["attention"] == "causal"
    assert doc["memory"]["kv_cache"]["total"] > 0


def test_csv_is_the_json_flattened(cli):
    j = json.loads(cli("count", "llama-3-8b", "--format", "json").out)
    rows = dict(csv.reader(io.StringIO(cli("count", "llama-3-8b", "--format", "csv").out)))
    assert rows["params.total"] == str(j["params"]["total"]) == "8030261248"
    assert rows["params.attention.per_matrix.key"] == "524288"
    assert rows["flops.forward.total"] == str(j["flops"]["forward"]["total"])


def test_markdown(cli):
    r = cli("count", "gpt2-small", "--format", "markdown")
    assert r.code == 0 and "| query (W_Q) | 64 × 768 | 49,152 |" in r.out


def test_config_json_and_toml_file(cli, tmp_path):
    r = cli("count", str(GOLDEN / "hf_configs" / "mistral-7b.json"), "--format", "json")
    assert json.loads(r.out)["params"]["total"] == 7_241_732_096
    toml = tmp_path / "tiny.toml"
    toml.write_text('vocab_size = 100\nd_model = 8\nn_layers = 2\nn_heads = 2\nsource = "test"\n')
    doc = json.loads(cli("count", str(toml), "--format", "json").out)
    assert doc["model"]["name"] == "tiny" and doc["params"]["attention"]["per_head"] == 4 * 4 * 8


def test_list_and_show(cli):
    r = cli("list", "--format", "json")
    rows = {p["name"]: p for p in json.loads(r.out)["presets"]}
    assert rows["mixtral-8x7b"]["total"] == 46_702_792_704 and all(p["source"] for p in rows.values())
    assert "7,241,732,096" in cli("list").out
    s = cli("show", "mistral-7b")
    assert s.code == 0 and "sliding_window" in s.out and "4,096" in s.out  # numbers with separators (issue 10)


def test_mixtral_active_convention(cli):
    doc = json.loads(cli("count", "mixtral-8x7b", "--format", "json").out)
    assert doc["params"]["conventions"]["active"] == 12_879_925_248
    assert "12,879,925,248" in cli("count", "mixtral-8x7b").out


@pytest.mark.parametrize("args,needle", [
    (["count", "gtp3"], "did you mean 'gpt3'"),  # (gpt-3 itself resolves: an alias)
    (["count", "nope.toml"], "nope.toml: no such file"),
    (["count", "gpt3", "--batch", "0"], "--batch must be an integer >= 1"),
    (["count", "gpt3", "--context", "-1"], "--context must be an integer >= 0"),
    (["count", "gpt3", "--tokens", "lots"], "--tokens"),
    (["count", "gpt3", "--dtype", "fp7"], "unknown dtype 'fp7'"),
    (["count", "gpt3", "--attention", "diagonal"], "--attention"),
    (["count", "--format", "yaml", "gpt3"], "--format"),
    (["count", "gpt3", "--bogus"], "--bogus"),
])
def test_bad_input_is_one_line_exit_2(cli, args, needle):
    r = cli(*args)
    assert r.code == 2 and r.out == ""
    assert len(r.err.strip().splitlines()) == 1 and needle in r.err, r.err
    assert "Traceback" not in r.err


@pytest.mark.parametrize("content,needle", [
    ("d_model = [", "invalid TOML"),
    ("vocab_size = 10\nd_model = 8\nn_layers = 2\nn_heads = 3\n", "n_heads: 3 heads do not divide d_model = 8"),
    ("vocab_size = 10\nd_model = 8\nn_layers = 2\nn_heads = 2\nd_modle = 3\n", "d_modle: unknown field; did you mean 'd_model'?"),
    ("vocab_size = 10\nd_model = '8'\nn_layers = 2\nn_heads = 2\n", "d_model: expected an integer"),
    ("vocab_size = 10\nd_model = 8\nn_layers = 0\nn_heads = 2\n", "n_layers: must be a positive integer"),
    ("vocab_size = 10\nd_model = 8\nn_layers = 2\nn_heads = 2\nn_experts = 2\ntop_k = 3\n", "top_k: 3 is more than n_experts"),
    ("vocab_size = 10\nd_model = 8\nn_layers = 2\nn_heads = 4\nn_kv_heads = 3\n", "n_kv_heads: 3 does not divide n_heads"),
    ("d_model = 8\nn_layers = 2\nn_heads = 2\n", "vocab_size: required field is missing"),
])
def test_bad_toml_names_file_and_field(cli, tmp_path, content, needle):
    f = tmp_path / "m.toml"
    f.write_text(content)
    r = cli("count", str(f))
    assert r.code == 2 and r.out == "" and str(f) in r.err and needle in r.err, r.err
    assert len(r.err.strip().splitlines()) == 1


@pytest.mark.parametrize("content,needle", [
    ("{", "invalid JSON"),
    ("[1]", "expected a JSON object"),
    ('{"model_type": "xlnet"}', "unsupported model_type 'xlnet'; supported: "),
    ('{"hidden_size": 8}', "no model_type"),
    ('{"model_type": "llama", "hidden_size": "big"}', "hidden_size: expected an integer"),
])
def test_bad_config_json(cli, tmp_path, content, needle):
    f = tmp_path / "config.json"
    f.write_text(content)
    r = cli("count", str(f))
    assert r.code == 2 and needle in r.err and len(r.err.strip().splitlines()) == 1, r.err


def test_huge_file_is_refused_without_reading(cli, tmp_path):
    f = tmp_path / "huge.json"
    with open(f, "wb") as fh:
        fh.truncate(2 * 10**9)  # a sparse 2 GB file
    r = cli("count", str(f))
    assert r.code == 2 and "a model config is at most 16 MiB" in r.err


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    e = {**os.environ, "NO_COLOR": "1", "COLUMNS": "120", **(env or {})}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=e, cwd=ROOT, timeout=120)


def test_python_dash_m_and_version():
    r = run("-m", "attncalc", "--version")
    assert r.returncode == 0 and r.stdout.startswith("attncalc ")


def test_count_does_not_import_numpy_or_numba():
    code = ("import sys\nfrom attncalc.cli import main\n"
            "try:\n    main(['count', 'gpt3', '--tokens', '300e9'])\nexcept SystemExit:\n    pass\n"
            "for cmd in (['list'], ['show', 'gpt3'], ['count', 'mixtral-8x7b', '--format', 'json']):\n"
            "    try:\n        main(cmd)\n    except SystemExit:\n        pass\n"
            "sys.stderr.write(' '.join(m for m in ('numpy', 'numba') if m in sys.modules))")
    r = run("-c", code)
    assert r.returncode == 0 and r.stderr == "", r.stderr


def test_no_color_means_no_escape_codes():
    r = run("-m", "attncalc", "count", "gpt2-small", env={"NO_COLOR": "1", "FORCE_COLOR": ""})
    assert "\x1b[" not in r.stdout
