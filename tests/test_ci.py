"""CI use: `diff`, `check --format github|junit|csv|markdown`, budgets files, the pre-commit hook, the
GitHub Action and the README's CI snippets, run as CI would run them in a temporary git repository.

Expected figures come from the textbook formulas, not from attncalc: a key/value head adds
2 matrices × d_head × d_model parameters per layer (K and V projections, Vaswani et al. 2017
sec. 3.2.2; shared across query groups, Ainslie et al. 2023 GQA), and the KV cache holds
2 (K and V) × n_layers × n_kv_heads × d_head elements per token.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from .conftest import ROOT

BIN = Path(sys.executable).parent
L, D, H, DH, VOCAB, DFF, CTX = 32, 4096, 32, 128, 32000, 14336, 8192
BF16 = 2


def model_text(n_kv_heads: int) -> str:
    return (f'# a Llama-like model\nname = "mine"\nvocab_size = {VOCAB}\nd_model = {D}\nn_layers = {L}\n'
            f'n_heads = {H}\nnotes = """\nn_kv_heads = 99 is not a field inside this string\n"""\n'
            f'n_kv_heads = {n_kv_heads}\nd_ff = {DFF}\nmlp = "gated"\nnorm = "rmsnorm"\npositions = "rotary"\n'
            f'n_ctx = {CTX}\n')


BUDGETS = '[budgets]\nmax_params = "7.5B"\nmax_kv_cache = "2GiB"\nmax_weights = "16GiB"\ncontext = 8192\n'


def env(**extra: str) -> dict[str, str]:
    e = {**os.environ, "NO_COLOR": "1", "COLUMNS": "120", "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
         "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
         "GIT_COMMITTER_EMAIL": "t@example.com", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    e.update(extra)
    return e


def sh(cmd: str | list[str], cwd: Path, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, shell=isinstance(cmd, str), cwd=cwd, env=env(**extra), capture_output=True,
                          text=True, timeout=120, executable="/bin/bash" if isinstance(cmd, str) else None)


def attncalc(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    exe = shutil.which("attncalc", path=str(BIN))
    return sh(([exe] if exe else [sys.executable, "-m", "attncalc"]) + list(args), cwd)


@pytest.fixture
def repo(tmp_path) -> Path:
    """A clone of an 'upstream' repository: main has the model with 8 KV heads and its budgets; the
    checked-out branch `pr` raises n_kv_heads to 32 (a pull request)."""
    up = tmp_path / "upstream"
    (up / "models").mkdir(parents=True)
    (up / "models" / "mine.toml").write_text(model_text(8))
    (up / "models" / "mine.budgets.toml").write_text(BUDGETS)
    for c in (["git", "init", "-q", "-b", "main"], ["git", "add", "-A"], ["git", "commit", "-qm", "model"]):
        assert sh(c, up).returncode == 0
    work = tmp_path / "work"
    assert sh(["git", "clone", "-q", str(up), str(work)], tmp_path).returncode == 0
    assert sh(["git", "checkout", "-qb", "pr"], work).returncode == 0
    (work / "models" / "mine.toml").write_text(model_text(32))
    assert sh(["git", "commit", "-qam", "more KV heads"], work).returncode == 0
    return work


def line_of(path: Path, prefix: str) -> int:
    return next(i for i, t in enumerate(path.read_text().splitlines(), 1) if t.startswith(prefix))


# ---- acceptance: a pull request that changes n_kv_heads ---------------------------------------

def test_pull_request_changing_kv_heads_diff_and_github_annotations(repo):
    base = sh("git show main:models/mine.toml", repo)
    assert base.returncode == 0
    (repo.parent / "base.toml").write_text(base.stdout)
    r = attncalc("diff", str(repo.parent / "base.toml"), "models/mine.toml", "--format", "json", cwd=repo)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["changed"] is True
    assert [(f["key"], f["old"], f["new"]) for f in doc["fields"] if f["key"] == "n_kv_heads"] == [("n_kv_heads", 8, 32)]
    fig = {f["key"]: f for f in doc["figures"]}
    kv = fig["memory.kv_cache.per_token"]
    assert kv["old"] == 2 * L * 8 * DH * BF16 and kv["new"] == 2 * L * 32 * DH * BF16
    assert kv["delta"] == 2 * L * 24 * DH * BF16
    assert Fraction(kv["relative"]["numerator"], kv["relative"]["denominator"]) == 3
    assert fig["memory.kv_cache.total"]["delta"] == 2 * L * 24 * DH * BF16 * CTX
    assert fig["params.total"]["delta"] == L * 24 * 2 * DH * D
    assert fig["params.attention.heads_per_block"]["delta"] == 24 * 2 * DH * D
    table = attncalc("diff", str(repo.parent / "base.toml"), "models/mine.toml", cwd=repo)
    assert table.returncode == 0 and "KV cache bytes per token" in table.stdout and "+393,216 (+300%) ▲" in table.stdout

    g = attncalc("check", "models/mine.toml", "--format", "github", cwd=repo)
    assert g.returncode == 1, g.stderr
    errors = [x for x in g.stdout.splitlines() if x.startswith("::error ")]
    assert len(errors) == 2  # max_params and max_kv_cache fail; max_weights holds
    model = repo / "models" / "mine.toml"
    by_title = {re.search(r"title=([^:]*)::", e).group(1): e for e in errors}
    kv_error = by_title["attncalc check%3A max_kv_cache"]
    assert f"file=models/mine.toml,line={line_of(model, 'n_kv_heads = 32')}," in kv_error
    assert "4,294,967,296" in kv_error and f"models/mine.budgets.toml:3" in kv_error
    params_error = by_title["attncalc check%3A max_params"]
    assert re.search(r"file=models/mine.toml,line=\d+,", params_error)
    assert g.stdout.splitlines()[-1] == "FAIL: models/mine.toml: 2 of 3 budgets failed: max_params, max_kv_cache"
    # main itself passes
    assert sh("git checkout -q main && attncalc check models/mine.toml --format github", repo).returncode == 0


def test_diff_of_a_model_with_itself_says_no_change(cli):
    r = cli("diff", "llama-3-8b", "llama-3-8b")
    assert r.code == 0 and "no change" in r.out
    assert cli("diff", "llama-3-8b", "llama-3-8b", "--fail-on-change").code == 0
    assert cli("diff", "llama-3-8b", "llama-3-8b:n_kv_heads=4", "--fail-on-change").code == 1
    md = cli("diff", "gpt2-small", "gpt2-small", "--format", "markdown")
    assert md.code == 0 and "**No change**" in md.out
    assert json.loads(cli("diff", "gpt2-small", "gpt2-small", "--format", "json").out)["changed"] is False


def test_diff_variant_syntax_and_set_agree(cli):
    a = json.loads(cli("diff", "llama-3-8b", "llama-3-8b:n_kv_heads=4", "--format", "json").out)
    b = json.loads(cli("diff", "llama-3-8b", "--set", "n_kv_heads=4", "--format", "json").out)
    assert a["figures"] == b["figures"] and a["fields"] == b["fields"]
    fig = {f["key"]: f for f in a["figures"]}
    # Llama 3 8B: 32 layers, d_model 4096, d_head 128; 8 -> 4 KV heads (Grattafiori et al. 2024, Table 3)
    assert fig["params.total"]["delta"] == -32 * 4 * 2 * 128 * 4096
    assert fig["memory.kv_cache.per_token"]["new"] == 2 * 32 * 4 * 128 * 2
    rel = fig["memory.kv_cache.per_token"]["relative"]
    assert Fraction(rel["numerator"], rel["denominator"]) == Fraction(-1, 2)
    # check takes the same syntax: Llama 2 7B (32 layers, 32 heads of 128) with 8 KV heads at 4,096
    # tokens holds 2 x 32 x 8 x 128 x 2 bytes x 4,096 = 512 MiB; with its own 32 heads, 2 GiB
    ok = cli("check", "llama-2-7b:n_kv_heads=8", "--max-kv-cache", "1GiB", "--context", "4096", "--format", "json")
    assert ok.code == 0 and json.loads(ok.out)["budgets"][0]["actual"] == 2 * 32 * 8 * 128 * 2 * 4096
    assert cli("check", "llama-2-7b", "--max-kv-cache", "1GiB", "--context", "4096").code == 1


def test_diff_per_matrix_and_per_head_changes_when_d_head_changes(cli):
    doc = json.loads(cli("diff", "gpt2-small", "gpt2-small:d_head=32", "--format", "json").out)
    fig = {f["key"]: f for f in doc["figures"]}
    # GPT-2 small: d_model 768, 12 heads; W_Q of one head is d_head × d_model
    assert (fig["params.attention.per_matrix.query"]["old"], fig["params.attention.per_matrix.query"]["new"]) == (64 * 768, 32 * 768)
    assert fig["params.attention.shapes.query"]["new"] == [32, 768]
    assert fig["params.attention.per_head"]["delta"] == -4 * 32 * 768


def test_diff_budgets_exit_and_markdown(cli):
    r = cli("diff", "llama-2-7b", "llama-2-7b:n_kv_heads=8", "--budget", "max_kv_cache=1GiB", "--context", "4096")
    assert r.code == 0 and "ok (was failing)" in r.out
    r = cli("diff", "llama-2-7b:n_kv_heads=8", "llama-2-7b", "--budget", "max_kv_cache=1GiB", "--context", "4096",
            "--format", "markdown")
    assert r.code == 1 and "FAIL (was ok)" in r.out and r.out.startswith("### attncalc diff")
    bad = cli("diff", "gpt3", "gpt3", "--budget", "max_prams=1")
    assert bad.code == 2 and bad.out == "" and "did you mean 'max_params'" in bad.err


def test_diff_and_refs_refuse_bad_input(cli):
    for args, needle in ((["diff", "gpt3", "gpt3:n_haeds=4"], "gpt3:n_haeds=4: n_haeds: unknown field"),
                         (["diff", "gpt3", "nosuch:n_heads=4"], "unknown model 'nosuch'"),
                         (["diff", "gpt3", "gpt3", "--format", "csv"], "'csv' is not one of")):
        r = cli(*args)
        assert r.code == 2 and r.out == "" and needle in r.err and len(r.err.strip().splitlines()) == 1, r.err


def test_load_ref_splits_at_the_first_colon_that_starts_assignments():
    from attncalc.spec.ref import load_ref, split_ref

    assert split_ref("llama-3-8b") == ("llama-3-8b", [])
    assert split_ref("llama-3-8b:n_kv_heads=4,d_ff=14,336") == ("llama-3-8b", ["n_kv_heads=4", "d_ff=14,336"])
    assert split_ref("gpt3:source=arXiv:2005.14165") == ("gpt3", ["source=arXiv:2005.14165"])
    a = load_ref("llama-3-8b:n_kv_heads=4,d_ff=14,336")
    assert (a.n_kv_heads, a.d_ff, a.name) == (4, 14336, "llama-3-8b:n_kv_heads=4,d_ff=14,336")


# ---- check: formats ----------------------------------------------------------------------------

def test_junit_has_one_case_per_budget_and_parses(repo):
    r = attncalc("check", "models/mine.toml", "--format", "junit", cwd=repo)
    assert r.returncode == 1
    root = ET.fromstring(r.stdout)
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert len(suites) == 1
    cases = suites[0].findall("testcase")
    assert [c.get("name") for c in cases] == ["max_params", "max_kv_cache", "max_weights"]
    failed = [c.get("name") for c in cases if c.find("failure") is not None]
    assert failed == ["max_params", "max_kv_cache"]
    assert suites[0].get("tests") == "3" and suites[0].get("failures") == "2" and root.get("failures") == "2"
    assert all(c.get("classname") == "attncalc.check.models/mine.toml" for c in cases)
    for c in cases:
        f = c.find("failure")
        assert f is None or ("limit <=" in f.get("message") and f.get("message") == f.text)
    kv = next(c for c in cases if c.get("name") == "max_kv_cache")
    assert "4,294,967,296" in kv.find("failure").get("message") and kv.get("file") == "models/mine.toml"


def test_junit_and_github_escape_hostile_names(tmp_path, cli):
    weird = tmp_path / "a,b:c%d<x>&\x01"
    weird.mkdir()
    model = weird / "m.toml"
    # (a control character in the name itself is refused at input: tests/test_hostile.py)
    model.write_text(model_text(8).replace('name = "mine"', 'name = "<x>&\\"]]>"'))
    r = cli("check", str(model), "--max-params", "1", "--format", "junit")
    assert r.code == 1
    root = ET.fromstring(r.out)  # control characters replaced, markup escaped
    message = next(root.iter("failure")).get("message")
    assert "a,b:c%d<x>&" in message and "\x01" not in message
    g = cli("check", str(model), "--max-params", "1", "--format", "github")
    err = g.out.splitlines()[0]
    assert "a%2Cb%3Ac%25d<x>&" in err.split("::")[1]  # property escaping (actions/toolkit escapeProperty)
    assert "\n" not in err and g.code == 1


def test_check_csv_markdown_and_refused_formats(cli):
    out = cli("check", "llama-2-7b", "--max-params", "6.5e9", "--min-params", "1B", "--format", "csv")
    assert out.code == 1
    assert out.out.splitlines() == ["model,budget,what,actual,relation,limit,ok",
                                    "llama-2-7b,max_params,parameters,6738415616,<=,6500000000,false",
                                    "llama-2-7b,min_params,parameters,6738415616,>=,1000000000,true"]
    md = cli("check", "llama-2-7b", "--max-params", "7B", "--format", "markdown")
    assert md.code == 0 and "| `max_params` |" in md.out
    bad = cli("check", "gpt3", "--max-params", "1T", "--format", "yaml")
    assert bad.code == 2 and bad.out == ""


@pytest.mark.parametrize("name", ["max_params", "min_params", "expect_params", "max_non_embedding_params",
                                  "max_active_params", "max_flops_per_token", "max_training_flops",
                                  "max_kv_cache", "max_weights", "max_training_memory"])
def test_every_budget_row_is_an_option_and_a_file_key(cli, tmp_path, name):
    from attncalc.core.budgets import BUDGETS

    assert name in BUDGETS
    b = BUDGETS[name]
    limit = "1" if b.relation == "min" else "1000000000T"
    extra = ["--tokens", "1T"] if name == "max_training_flops" else []
    flag = cli("check", "gpt2-small", b.flag, limit, *extra, "--format", "json")
    expect_ok = b.relation != "expect"
    assert flag.code == (0 if expect_ok else 1), flag.err
    (tmp_path / "b.toml").write_text(f'{name} = "{limit}"\n' + ('tokens = "1T"\n' if extra else ""))
    from_file = cli("check", "gpt2-small", "--budgets", str(tmp_path / "b.toml"), "--format", "json")
    assert from_file.code == flag.code
    (got,), (want,) = json.loads(from_file.out)["budgets"], json.loads(flag.out)["budgets"]
    assert got.pop("source") == {"file": str(tmp_path / "b.toml"), "key": name, "line": 1}
    assert got == want and got["name"] == name


# ---- budgets files: wrong types, folders -------------------------------------------------------

@pytest.mark.parametrize("text,key", [
    ("max_params = [1]\n", "max_params"), ("max_params = true\n", "max_params"),
    ("max_params = {a = 1}\n", "max_params"), ("[budgets]\nmax_kv_cache = [[1]]\n", "max_kv_cache"),
    ("budgets = 5\n", "budgets"), ("[budgets.inner]\nx = 1\n", "budgets.inner"),
    ("max_params = 1.5\n", "max_params"), ("max_params = 1979-05-27\n", "max_params"),
    ("max_params = -3\n", "max_params"), ("max_params = nan\n", "max_params"), ("max_params = inf\n", "max_params"),
    ("context = true\n", "context"), ("context = \"x\"\n", "context"), ("batch = 0\n", "batch"),
    ("dtype = 5\n", "dtype"), ("dtype = \"fp7\"\n", "dtype"), ("tolerance = true\n", "tolerance"),
    ("tolerance = \"-1%\"\n", "tolerance"), ("tolerance = \"nan\"\n", "tolerance"),
    ("x = 1\n[budgets]\nmax_params = 1\n", "x"), ("max_parms = 1\n", "max_parms"),
])
def test_budgets_file_wrong_types_are_one_line_naming_file_and_key(cli, tmp_path, text, key):
    f = tmp_path / "b.toml"
    f.write_text(text)
    r = cli("check", "gpt2-small", "--budgets", str(f))
    assert r.code == 2 and r.out == "" and len(r.err.strip().splitlines()) == 1, r.err
    assert r.err.startswith(f"attncalc: error: {f}: {key}: "), r.err


def test_budgets_file_floats_are_exact(cli, tmp_path):
    f = tmp_path / "b.toml"
    f.write_text("max_params = 1e23\n")
    doc = json.loads(cli("check", "gpt2-small", "--budgets", str(f), "--format", "json").out)
    assert doc["budgets"][0]["limit"] == 10**23  # not 99999999999999991611392, the nearest double


def test_limits_are_exact_and_bounded(cli, tmp_path):
    big = 10**31 + 1  # past the 28 significant digits of Decimal's default context
    doc = json.loads(cli("check", "gpt2-small", "--max-params", str(big), "--format", "json").out)
    assert doc["budgets"][0]["limit"] == big
    assert cli("check", "gpt2-small", "--max-params", "1e60").code == 0  # units.py bounds exponents at 60
    for args in (["--max-params", "1e999999999"], ["--max-params", "1e61"],
                 ["--expect-params", "124M", "--tolerance", "1e999999999"], ["--expect-params", "1", "--tolerance", "-1%"]):
        r = cli("check", "gpt2-small", *args)
        assert r.code == 2 and r.out == "" and len(r.err.strip().splitlines()) == 1, r.err
    f = tmp_path / "b.toml"
    f.write_text("max_params = 1" + "0" * 5000 + "\n")
    r = cli("check", "gpt2-small", "--budgets", str(f))
    assert r.code == 2 and r.err.startswith(f"attncalc: error: {f}: ")


def test_check_folder_finds_its_budgets_like_its_config(cli, tmp_path):
    folder = tmp_path / "llama"
    folder.mkdir()
    shutil.copy(ROOT / "tests" / "golden" / "hf_configs" / "llama-3-8b.json", folder / "config.json")
    (folder / "budgets.toml").write_text('max_kv_cache = "1MiB"\n')
    by_folder = cli("check", str(folder))
    by_file = cli("check", str(folder / "config.json"))
    assert by_folder.code == by_file.code == 1 and by_folder.out == by_file.out
    g = cli("check", str(folder), "--format", "github")
    text = (folder / "config.json").read_text()
    line = next(i for i, t in enumerate(text.splitlines(), 1) if '"num_key_value_heads"' in t)
    assert g.out.startswith(f"::error file={folder / 'config.json'},line={line},")


def test_budgets_file_given_as_a_model_checks_its_model(repo):
    r = attncalc("check", "--skip-without-budgets", "models/mine.budgets.toml", "README.toml", cwd=repo)
    assert r.returncode == 1 and "FAIL mine: max_kv_cache" in r.stdout


# ---- the line locator --------------------------------------------------------------------------

def test_toml_locator_tables_dotted_and_multiline_strings():
    from attncalc.spec.locate import toml_key_lines

    text = 'a = 1\ns = """\nb = 2\n"""\nb = 3\n[budgets]\nmax_params = "7B"\n"max kv" = 1\nx.y = 2\n'
    lines = toml_key_lines(text)
    assert lines[("a",)] == 1 and lines[("b",)] == 5 and lines[("budgets", "max_params")] == 7
    assert lines[("budgets", "max kv")] == 8 and lines[("budgets", "x", "y")] == 9


_BARE_KEYS = st.from_regex(r"[A-Za-z_][A-Za-z0-9_-]{0,7}", fullmatch=True)
_TRAPS = st.sampled_from(['"""\nk = 1\n[t]\n"""', "'''\nk = 2\n'''", '"a = b"', "[1, 2]", "7", '"""x"""',
                          '"""\nq = """'])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(_BARE_KEYS, _TRAPS), min_size=1, max_size=8, unique_by=lambda kv: kv[0]),
       st.sampled_from(["", "[budgets]\n"]))
def test_toml_locator_skips_multiline_strings(pairs, header):
    """Keys written after multi-line strings holding key-like lines are found on their own line."""
    import tomllib

    from attncalc.spec.locate import toml_key_lines

    text = header + "".join(f"{k} = {v}\n" for k, v in pairs)
    data = tomllib.loads(text)  # the text is valid TOML
    prefix = ("budgets",) if header else ()
    keys = data["budgets"] if header else data
    lines = toml_key_lines(text)
    assert {k for k in lines if len(k) == len(prefix) + 1} == {prefix + (k,) for k in keys}
    for k, _ in pairs:
        assert text.split("\n")[lines[prefix + (k,)] - 1].startswith(f"{k} = ")


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.text(st.characters(codec="utf-8", exclude_characters='"\\'), min_size=1, max_size=8),
                       st.recursive(st.integers() | st.text(max_size=5) | st.booleans(),
                                    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=3), c, max_size=3),
                                    max_leaves=6), min_size=1, max_size=6),
       st.sampled_from([None, 1, 2]))
def test_json_locator_finds_every_top_level_key_on_its_line(data, indent):
    from attncalc.spec.locate import json_key_lines

    text = json.dumps(data, indent=indent, ensure_ascii=False)
    lines = json_key_lines(text)
    for key in data:
        n = lines[(key,)]
        assert json.dumps(key, ensure_ascii=False) + ":" in text.split("\n")[n - 1]


# ---- integration files: pre-commit hook, GitHub Action, README snippets -------------------------

def yaml_fields(text: str) -> dict[str, str]:
    """`key: value` pairs of a flat YAML list item (enough for .pre-commit-hooks.yaml)."""
    out = {}
    for line in text.splitlines():
        m = re.match(r"^\s*-?\s*([A-Za-z_]+):\s*(.*?)\s*$", line)
        if m and not line.lstrip().startswith("#"):
            out[m.group(1)] = m.group(2)
    return out


def run_blocks(text: str) -> dict[str, str]:
    """Each `run: |` block of a workflow or action, by the name of its step."""
    lines, out = text.splitlines(), {}
    for i, line in enumerate(lines):
        m = re.match(r"^(\s*)run: \|\s*$", line)
        if not m:
            continue
        indent = len(m.group(1))
        name = next(re.sub(r"^\s*-?\s*name:\s*", "", lines[j]) for j in range(i, -1, -1)
                    if re.match(r"^\s*-?\s*name:", lines[j]) and len(lines[j]) - len(lines[j].lstrip(" -")) <= indent)
        body = []
        for t in lines[i + 1:]:
            if t.strip() and len(t) - len(t.lstrip()) <= indent:
                break
            body.append(t[indent + 2:])
        out[name] = "\n".join(body)
    return out


def test_pre_commit_hook_runs_on_changed_files(repo):
    hook = yaml_fields((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert hook["id"] == "attncalc-check" and hook["language"] == "python" and hook["pass_filenames"] == "true"
    files = sh("git diff --name-only main", repo).stdout.split() + ["models/mine.budgets.toml"]
    (repo / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    files.append("pyproject.toml")
    matching = [f for f in files if re.search(hook["files"], f)]
    assert set(matching) == {"models/mine.toml", "models/mine.budgets.toml", "pyproject.toml"}
    r = sh(hook["entry"].split() + matching, repo)  # as pre-commit runs it: entry + file names
    assert r.returncode == 1 and "FAIL mine: max_kv_cache" in r.stdout and r.stdout.count("budgets failed") == 1
    assert "skipping pyproject.toml" in r.stderr
    assert sh("git checkout -q main", repo).returncode == 0
    assert sh(hook["entry"].split() + matching, repo).returncode == 0


def test_github_action_scripts(repo, tmp_path):
    text = (ROOT / "action.yml").read_text()
    assert "using: composite" in text and "${{" not in "".join(run_blocks(text).values())
    blocks = run_blocks(text)
    runner = tmp_path / "runner"
    runner.mkdir()
    summary, output = runner / "summary.md", runner / "output"
    common = dict(RUNNER_TEMP=str(runner), GITHUB_STEP_SUMMARY=str(summary), GITHUB_OUTPUT=str(output),
                  MODELS="models/mine.toml", BUDGETS="", ARGS="")
    d = sh(blocks["Diff models against the base"], repo, BASE="main", **common)
    assert d.returncode == 0, d.stderr
    md = summary.read_text()
    assert md.startswith("### attncalc diff: models/mine.toml@main → models/mine.toml")
    assert "| KV cache bytes per token | 131,072 | 524,288 | +393,216 (+300%) ▲ |" in md
    assert output.read_text().strip() == f"diff-file={runner / 'attncalc-diff.md'}"
    c = sh(blocks["Check budgets"], repo, **common)
    assert c.returncode == 1 and c.stdout.count("::error file=models/mine.toml,line=") == 2
    c = sh(blocks["Check budgets"], repo, **(common | {"ARGS": "--max-kv-cache 8GiB --max-params 9B"}))
    assert c.returncode == 0, c.stdout
    install = blocks["Install attncalc"]
    assert 'pip install' in install and "$GITHUB_ACTION_PATH" in install


def readme_ci_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## CI: budgets"):]
    section = section[:section.index("\n## ", 1)]
    return re.findall(r"```yaml\n(.*?)```", section, re.S)


def test_readme_github_snippets_run(repo, tmp_path):
    blocks = readme_ci_blocks()
    action = next(b for b in blocks if "uses: OWNER/attncalc" in b)
    assert "models: models/mine.toml" in action and "diff-base:" in action and "fetch-depth: 0" in action
    inputs = re.findall(r"^  ([a-z-]+):\n    description", (ROOT / "action.yml").read_text(), re.M)
    used = re.findall(r"^\s+([a-z-]+): ", action.split("with:")[-1], re.M)
    assert set(used) <= set(inputs)
    commands = [re.sub(r"^\s*- run: ", "", line) for b in blocks for line in b.splitlines()
                if re.match(r"^\s*- run: attncalc ", line)]
    assert len(commands) == 2
    summary = tmp_path / "summary.md"
    results = [sh(c, repo, GITHUB_STEP_SUMMARY=str(summary)) for c in commands]
    assert results[0].returncode == 1 and results[0].stdout.count("::error ") == 2
    assert results[1].returncode == 0 and "### attncalc diff: llama-3-8b → models/mine.toml" in summary.read_text()


def test_readme_gitlab_snippet_runs(repo):
    block = next(b for b in readme_ci_blocks() if "script:" in b)
    script = [re.sub(r"^\s*- ", "", line) for line in block.split("script:")[1].split("artifacts:")[0].splitlines()
              if line.strip().startswith("- ")]
    assert script[0].startswith("pip install")
    out = []
    for cmd in script[1:]:  # everything after the install, as the runner would
        r = sh(cmd, repo, CI_MERGE_REQUEST_TARGET_BRANCH_NAME="main")
        out.append(r)
        if "attncalc check" not in cmd:
            assert r.returncode == 0, (cmd, r.stderr)
    assert "KV cache bytes per token" in out[2].stdout and "### attncalc diff: main → models/mine.toml" in out[2].stdout
    assert out[3].returncode == 1
    report = re.search(r"junit: (\S+)", block).group(1)
    root = ET.parse(repo / report).getroot()
    assert len(root.findall("./testsuite/testcase")) == 3 and len(root.findall(".//failure")) == 2


def test_readme_pre_commit_snippets_match_the_hook():
    blocks = readme_ci_blocks()
    remote = next(b for b in blocks if "rev:" in b)
    assert "- id: attncalc-check" in remote
    local = yaml_fields(next(b for b in blocks if "repo: local" in b))
    hook = yaml_fields((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert local["id"] == hook["id"] and local["entry"] == hook["entry"] and local["files"] == hook["files"]
