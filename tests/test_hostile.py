"""Hostile and careless input, one test class per fault class of issue 10 (inputs and errors).

Every bad input: one line on stderr, exit 2, nothing on stdout, no traceback, no hang; exit 1 only for
a failed budget; 3 for a bug; 141 for a closed pipe (see attncalc/cli/faults.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from fractions import Fraction

import pytest

from attncalc import ConfigError, from_mapping
from attncalc.units import human, human_bytes, human_flops, parse_fraction, parse_quantity

from .conftest import ROOT

SMALL = "vocab_size = 10\nd_model = 8\nn_layers = 1\nn_heads = 2\n"


def one_line_error(r, needle: str = "") -> None:
    assert r.code == 2, (r.code, r.err)
    assert r.out == ""
    assert len(r.err.strip().splitlines()) == 1, r.err
    assert r.err.startswith("attncalc: error: ") and "Traceback" not in r.err
    assert needle in r.err, r.err


def run(*args: str, env: dict | None = None, **kw) -> subprocess.CompletedProcess:
    e = {**os.environ, "NO_COLOR": "1", "COLUMNS": "120", **(env or {})}
    return subprocess.run([sys.executable, "-m", "attncalc", *args], env=e, cwd=ROOT, timeout=120, **kw)


# 1. An unexpected exception is a bug: exit 3 with one line, never 1 (a failed budget) -----------------

def test_a_bug_exits_3_not_1(cli, monkeypatch):
    import attncalc.core.report as report

    def broken(*a, **k):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(report, "build", broken)
    for args in (["count", "gpt3"], ["check", "gpt3", "--max-params", "7B"]):
        r = cli(*args)
        assert r.code == 3 and r.out == "", r
        assert len(r.err.strip().splitlines()) == 1 and "Traceback" not in r.err
        assert "internal error: ZeroDivisionError: boom" in r.err and "please report" in r.err


def test_debug_variable_shows_the_traceback(cli, monkeypatch):
    import attncalc.core.report as report

    monkeypatch.setattr(report, "build", lambda *a, **k: 1 / 0)
    monkeypatch.setenv("ATTNCALC_DEBUG", "1")
    r = cli("count", "gpt3")
    assert r.code == 3 and "Traceback" in r.err and "ZeroDivisionError" in r.err


# 2. Human units: exact, bounded, finite, non-negative, case-insensitive, strict grouping ------------------

@pytest.mark.parametrize("text,value", [
    ("7B", 7 * 10**9), ("7b", 7 * 10**9), ("1.4T", 14 * 10**11), ("1.4t", 14 * 10**11),
    ("4GiB", 4 * 2**30), ("4gib", 4 * 2**30), ("4 GiB", 4 * 2**30), ("500M", 5 * 10**8), ("500m", 5 * 10**8),
    ("300e9", 3 * 10**11), ("1E3k", 10**6), ("1,024", 1024), ("1,000,000", 10**6), ("1_000", 1000),
    ("12.5k", 12500), ("2.5e-1k", 250),
    # 31 significant digits: a Decimal with its default 28-digit context rounded the last ones away
    ("1234567890123456789012345678901", 1234567890123456789012345678901),
    ("1234567890123456789012345.678901e6", 1234567890123456789012345678901),
])
def test_quantities_are_exact(text, value):
    assert parse_quantity(text) == value


@pytest.mark.parametrize("text,needle", [
    ("1,,0", "cannot read"), ("10,00", "cannot read"), (",100", "cannot read"), ("1_", "cannot read"),
    ("nan", "not a finite"), ("inf", "not a finite"), ("-inf", "not a finite"), ("NaN", "not a finite"),
    ("-5", "cannot be negative"), ("1.5", "not a whole number"), ("7X", "unknown unit"), ("", "cannot read"),
    ("1e61", "exponent 61 is out of range"), ("1e-61", "out of range"), ("1e60k", "too large"),
    ("9" * 200, "characters"),
])
def test_bad_quantities_are_refused(text, needle):
    with pytest.raises(ValueError, match=".") as err:
        parse_quantity(text)
    assert needle in str(err.value)


def test_tolerances_exact_and_checked():
    assert parse_fraction("0.5%") == Fraction(1, 200)
    assert parse_fraction("0.005") == Fraction(1, 200)
    assert parse_fraction("5e-3") == Fraction(1, 200)
    for bad, needle in (("-1%", "'-1%'"), ("-0.1", "negative"), ("nan", "finite"), ("inf%", "finite"),
                        ("5k", "unknown unit"), ("%", "cannot read")):
        with pytest.raises(ValueError) as err:
            parse_fraction(bad)
        assert needle in str(err.value), str(err.value)


def test_an_absurd_exponent_returns_at_once(cli):
    t0 = time.perf_counter()
    r = cli("check", "gpt3", "--expect-params", "175B", "--tolerance", "1e999999999")
    one_line_error(r, "out of range")
    r = cli("check", "gpt3", "--max-params", "1e999999999")
    one_line_error(r, "out of range")
    assert time.perf_counter() - t0 < 5


def test_check_verdict_is_exact_past_28_digits(cli, tmp_path):
    # A 40-digit total: the 28-digit Decimal of before rounded total - 1 to total, passing a budget
    # one parameter too small.
    f = tmp_path / "wide.toml"
    f.write_text(f"vocab_size = 3\nd_model = {2**62}\nn_layers = 1\nn_heads = 1\n")
    total = json.loads(cli("count", str(f), "--format", "json").out)["params"]["total"]
    assert len(str(total)) > 30
    assert cli("check", str(f), "--max-params", str(total)).code == 0
    assert cli("check", str(f), "--max-params", str(total - 1)).code == 1
    assert cli("check", str(f), "--min-params", str(total + 1)).code == 1


def test_negative_tolerance_and_units_on_the_command_line(cli):
    one_line_error(cli("check", "gpt3", "--expect-params", "175B", "--tolerance", "-1%"), "negative")
    assert cli("check", "gpt3", "--max-params", "175b").code == 0
    assert cli("count", "gpt3", "--tokens", "300b", "--format", "json").code == 0
    one_line_error(cli("count", "gpt3", "--tokens", "1,,0"), "--tokens")


# 3. Floats in integer fields: only exact integers, written exactly -----------------------------------------

@pytest.mark.parametrize("literal,ok", [
    ("768.0", True), ("7.68e2", True), ("768", True), ("1e23", False), ("768.5", False), ("nan", False),
    ("inf", False), ("9007199254740993.0", False), ("1e400", False), ("1e-400", False),
])
def test_toml_float_literal_in_an_integer_field(cli, tmp_path, literal, ok):
    f = tmp_path / "m.toml"
    f.write_text(f"vocab_size = 10\nd_model = {literal}\nn_layers = 1\nn_heads = 2\n")
    r = cli("count", str(f), "--format", "json")
    if ok:
        assert r.code == 0 and json.loads(r.out)["model"]["d_model"] == 768
    else:
        one_line_error(r, "d_model")
        if literal in ("1e23", "9007199254740993.0"):
            assert "write it as an integer" in r.err


def test_json_float_literal_in_an_integer_field(cli, tmp_path):
    f = tmp_path / "config.json"
    cfg = {"model_type": "llama", "hidden_size": 4096, "num_attention_heads": 32, "num_hidden_layers": 2,
           "intermediate_size": 11008, "vocab_size": 32000}
    f.write_text(json.dumps(cfg).replace("4096", "4096.0"))
    assert json.loads(cli("count", str(f), "--format", "json").out)["model"]["d_model"] == 4096
    f.write_text(json.dumps(cfg).replace("32000", "1e23"))
    one_line_error(cli("count", str(f)), "vocab_size: 1e23 is not exactly the float")


def test_library_floats_past_2_53_are_refused():
    base = {"vocab_size": 10, "n_layers": 1, "n_heads": 2}
    assert from_mapping(base | {"d_model": 8.0}).d_model == 8
    with pytest.raises(ConfigError, match="write it as an integer"):
        from_mapping(base | {"d_model": 1e23})


# 4. Nesting, markup, huge numbers, huge strings -------------------------------------------------------------

@pytest.mark.parametrize("name,text", [
    ("deep.json", '{"model_type": "llama", "x": ' + "[" * 200_000 + "]" * 200_000 + "}"),
    ("deep.toml", SMALL + "x = " + "[" * 200_000 + "]" * 200_000 + "\n"),
    ("deep2.toml", SMALL + "x = " + "{a = " * 5000 + "1" + "}" * 5000 + "\n"),
])
def test_deep_nesting_is_one_line(cli, tmp_path, name, text):
    f = tmp_path / name
    f.write_text(text)
    one_line_error(cli("count", str(f)), str(f))


MARKUP = "[/]x [bold red]y[/bold red] :warning: [link=file:///etc/passwd]z[/link]"


@pytest.mark.parametrize("args", [["count"], ["show"], ["compare", "gpt2-small"], ["explain"],
                                  ["count", "--format", "markdown"]])
def test_user_strings_are_not_markup(cli, tmp_path, args):
    f = tmp_path / "m.toml"
    f.write_text(f'name = "{MARKUP}"\nsource = "{MARKUP}"\nnotes = "{MARKUP}"\n' + SMALL)
    cmd, *rest = args
    r = cli(cmd, str(f), *rest)
    assert r.code == 0, r.err
    shown = "[/]x" if "markdown" not in rest else "\\[/\\]x"  # Markdown escapes brackets (no links)
    assert shown in r.out and (cmd != "show" or ":warning:" in r.out)


@pytest.mark.parametrize("field,value,ok", [("name", "a\\u001b[31mred", False), ("notes", "x\\u001b]0;title\\u0007", False),
                                            ("name", "a\\u009b2J", False), ("notes", "line one\\nline two\\tend", True),
                                            ("name", "a\\tb", False)])
def test_control_characters_in_user_strings(cli, tmp_path, field, value, ok):
    f = tmp_path / "m.toml"
    f.write_text(f'{field} = "{value}"\n' + SMALL)
    r = cli("show", str(f))
    if ok:
        assert r.code == 0 and "\x1b" not in r.out
    else:
        one_line_error(r, f"{field}: control character")


def test_control_characters_in_errors_are_escaped(cli, tmp_path):
    r = cli("count", "no\x1b[2Jsuch.toml")
    one_line_error(r, "\\x1b[2J")
    assert "\x1b" not in r.err


def test_huge_integers_are_refused_at_input(cli, tmp_path):
    digits = "9" * 5000
    one_line_error(cli("count", "gpt3", "--set", f"d_model={digits}"), "d_model")
    one_line_error(cli("count", "gpt3", "--set", f"d_model={2**63}"), "at most 2**63 - 1")
    one_line_error(cli("count", "gpt3", "--seq", str(2**64)), "--seq is too large")
    for name, text in (("big.toml", SMALL.replace("= 10", "= " + digits)),
                       ("config.json", '{"model_type": "llama", "hidden_size": ' + digits + "}")):
        f = tmp_path / name
        f.write_text(text)
        one_line_error(cli("count", str(f)), "4,300 digits")


def test_formatters_take_any_int():
    n = 10**5000 + 1
    assert human(n) == "1.000e+5000" and human_bytes(n) == "1.000e+5000"
    assert human_flops(n) == "1.000e+5000 FLOP" and human(-n) == "-1.000e+5000"
    assert human(174_604_259_328) == "174.6B"  # unchanged for ordinary sizes


def test_long_strings_bounded_at_input(cli, tmp_path):
    f = tmp_path / "m.toml"
    f.write_text(SMALL + 'notes = "' + "n" * 15_000_000 + '"\n')
    t0 = time.perf_counter()
    one_line_error(cli("show", str(f)), "notes: 15,000,000 characters is too long: at most 65,536")
    f.write_text(SMALL + 'name = "' + "n" * 300 + '"\n')
    one_line_error(cli("show", str(f)), "name: 300 characters is too long")
    f.write_text(SMALL + 'notes = "' + "n" * 60_000 + '"\n')  # within the bound: shown, quickly
    assert cli("show", str(f)).code == 0
    assert time.perf_counter() - t0 < 30


def test_wrong_types_anywhere_are_one_line(cli, tmp_path):
    f = tmp_path / "config.json"
    for body in ('{"model_type": ["llama"]}', '{"model_type": {"a": 1}}', '{"model_type": "llama", "_name_or_path": [1]}',
                 '{"model_type": "llama", "hidden_size": [[[[1]]]]}', '{"model_type": "llama", "hidden_size": true}'):
        f.write_text(body)
        r = cli("count", str(f))
        assert r.code in (0, 2) and "Traceback" not in r.err, (body, r.err)
        if r.code == 2:
            one_line_error(r)


# 5. init writes only regular files, by temporary file and rename --------------------------------------------

@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("name", ["", " ", "/", ".toml", "dir/", ".hidden"])
def test_init_refuses_names_that_name_no_file(cli, in_tmp, name):
    one_line_error(cli("init", name), "NAME")
    assert list(in_tmp.iterdir()) == []


def test_init_writes_a_regular_file_and_refuses_to_overwrite(cli, in_tmp):
    assert cli("init", "mine").code == 0
    assert (in_tmp / "mine.toml").is_file() and cli("count", "mine.toml").code == 0
    one_line_error(cli("init", "mine"), "already exists")
    (in_tmp / "mine.toml").write_text("old")
    assert cli("init", "mine", "--force").code == 0 and (in_tmp / "mine.toml").read_text() != "old"
    assert sorted(p.name for p in in_tmp.iterdir()) == ["mine.toml"]  # no temporary file left


def test_init_never_writes_through_a_dangling_link(cli, in_tmp):
    (in_tmp / "x.toml").symlink_to(in_tmp / "elsewhere.toml")
    for extra in ([], ["--force"], ["--force", "--follow-links"]):
        one_line_error(cli("init", "x", *extra), "symbolic link")
    assert not (in_tmp / "elsewhere.toml").exists()


def test_init_follows_a_link_only_when_asked(cli, in_tmp):
    target = in_tmp / "real.toml"
    target.write_text("old")
    (in_tmp / "x.toml").symlink_to(target)
    one_line_error(cli("init", "x", "--force"), "--follow-links")
    assert target.read_text() == "old"
    assert cli("init", "x", "--force", "--follow-links").code == 0
    assert (in_tmp / "x.toml").is_symlink() and "vocab_size" in target.read_text()


def test_init_does_not_block_on_a_fifo(in_tmp):
    os.mkfifo(in_tmp / "f.toml")
    for extra in ([], ["--force"]):
        r = subprocess.run([sys.executable, "-m", "attncalc", "init", "f", *extra], cwd=in_tmp, timeout=60,
                           capture_output=True, text=True)
        assert r.returncode == 2 and "not a regular file" in r.stderr and r.stdout == ""


def test_init_refuses_a_folder_and_a_missing_folder(cli, in_tmp):
    (in_tmp / "d.toml").mkdir()
    one_line_error(cli("init", "d", "--force"), "is a folder")
    one_line_error(cli("init", "nowhere/x"), "no such folder")


# 6. Output faults, through real processes ---------------------------------------------------------------------

def test_full_stdout_is_one_line_exit_2():
    with open("/dev/full", "w") as full:
        r = run("count", "gpt3", stdout=full, stderr=subprocess.PIPE, text=True)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "No space left on device" in r.stderr


@pytest.mark.parametrize("args", [["count", "gpt3", "--format", "json"], ["count", "gpt3"], ["--help"],
                                  ["check", "gpt3", "--max-params", "7B"]])
def test_closed_pipe_is_quiet_141(args):
    rd, wr = os.pipe()
    os.close(rd)  # the reader is gone before we write (`| head -0`); Rich and Click would say exit 1
    try:
        r = run(*args, stdout=wr, stderr=subprocess.PIPE, text=True)
    finally:
        os.close(wr)
    assert r.returncode == 141 and r.stderr == ""


@pytest.mark.parametrize("how", ["before start (>&-)", "after start"])
def test_closed_stdout_discards_results(how):
    close = "" if how.startswith("before") else "os.close(1); "
    code = f"import os, runpy, sys; {close}sys.argv = ['attncalc'] + sys.argv[1:]; runpy.run_module('attncalc', run_name='__main__')"
    e = {**os.environ, "NO_COLOR": "1"}
    for args, expected in ((["count", "gpt3"], 0), (["check", "gpt3", "--max-params", "7B"], 1)):
        r = subprocess.run([sys.executable, "-c", code, *args], env=e, cwd=ROOT, timeout=120, stderr=subprocess.PIPE,
                           text=True, **({"preexec_fn": lambda: os.close(1)} if close == "" else {}))
        assert r.returncode == expected and r.stderr == "", r.stderr


@pytest.mark.parametrize("args", [["count", "gpt3"], ["compare", "gpt3", "llama-2-7b"], ["explain", "gpt3"],
                                  ["list"], ["count", "gpt3", "--format", "markdown"], ["count", "nope"]])
def test_ascii_only_stdout_degrades(args):
    r = run(*args, env={"PYTHONIOENCODING": "ascii", "LANG": "C", "LC_ALL": "C"},
            capture_output=True)
    assert r.returncode in (0, 2) and b"Traceback" not in r.stderr, r.stderr
    r.stdout.decode("ascii")  # nothing but ASCII reached the stream
    if args[0] == "count" and r.returncode == 0:
        assert b"128 x 12,288" in r.stdout


# 7. Hugging Face ids, folders and unsupported model types -------------------------------------------------------

LLAMA = {"model_type": "llama", "hidden_size": 4096, "num_attention_heads": 32, "num_hidden_layers": 32,
         "num_key_value_heads": 8, "intermediate_size": 14336, "vocab_size": 128256,
         "max_position_embeddings": 131072}


def test_hf_id_found_in_the_local_cache(cli, tmp_path, monkeypatch):
    repo = tmp_path / "hub" / "models--meta-llama--Llama-3.1-8B"
    old, new = "a" * 40, "b" * 40
    for commit, layers in ((old, 1), (new, 32)):
        (repo / "snapshots" / commit).mkdir(parents=True)
        (repo / "snapshots" / commit / "config.json").write_text(json.dumps(LLAMA | {"num_hidden_layers": layers}))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(new)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    r = cli("count", "meta-llama/Llama-3.1-8B", "--format", "json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    # Llama 3.1 8B: 8,030,261,248 parameters (the model card's "8B"; 4096-wide, 32 layers, GQA 8, vocab 128,256)
    assert doc["model"]["name"] == "Llama-3.1-8B" and doc["params"]["total"] == 8_030_261_248
    monkeypatch.delenv("HF_HUB_CACHE")
    monkeypatch.setenv("HF_HOME", str(tmp_path))  # HF_HOME/hub
    assert cli("count", "meta-llama/Llama-3.1-8B").code == 0


def test_hf_id_missing_says_how_to_get_it(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    r = cli("count", "meta-llama/Llama-3.1-8B")
    one_line_error(r, "huggingface-cli download meta-llama/Llama-3.1-8B config.json")
    assert "https://huggingface.co/meta-llama/Llama-3.1-8B/resolve/main/config.json" in r.err


def test_folder_without_config_json(cli, tmp_path):
    one_line_error(cli("count", str(tmp_path)), "a folder without a config.json")


def test_unsupported_model_type_names_the_next_step(cli, tmp_path):
    f = tmp_path / "config.json"
    f.write_text('{"model_type": "bart"}')
    one_line_error(cli("count", str(f)), "`attncalc init NAME`")


# 8. dtype spellings: one table everywhere -------------------------------------------------------------------------

@pytest.mark.parametrize("alias,canonical", [("float32", "fp32"), ("F32", "fp32"), ("bfloat16", "bf16"),
                                             ("half", "fp16"), ("float16", "fp16"), ("e4m3", "fp8"),
                                             ("float8_e4m3fn", "fp8"), ("INT8", "int8"), ("i4", "int4"),
                                             ("float64", "fp64")])
def test_dtype_aliases(cli, alias, canonical):
    a = json.loads(cli("count", "gpt3", "--dtype", alias, "--format", "json").out)["memory"]
    b = json.loads(cli("count", "gpt3", "--dtype", canonical, "--format", "json").out)["memory"]
    assert a == b and a["dtype"] == canonical
    assert cli("compare", "gpt3", "gpt2-small", "--dtype", alias, "--format", "json").code == 0
    assert cli("check", "gpt3", "--dtype", alias, "--max-weights", "10PB").code == 0


def test_dtype_bytes_match_their_definitions():
    from attncalc.dtypes import dtype_bytes

    # IEEE 754 binary32/16/64, bfloat16 (16 bits), OCP FP8 (8 bits), 4-bit ints packed two per byte
    assert [dtype_bytes(d) for d in ("float32", "bfloat16", "half", "double", "e5m2", "int4")] == \
        [4, 2, 2, 8, 1, Fraction(1, 2)]


def test_unknown_dtype_lists_the_spellings(cli):
    for cmd in (["count", "gpt3"], ["compare", "gpt3", "gpt2-small"], ["check", "gpt3", "--max-weights", "1TB"]):
        one_line_error(cli(*cmd, "--dtype", "fp7"), "unknown dtype 'fp7'; use one of fp64 (float64")


# 9. Start-up: the JSON path does not import Rich's console (timings live in benchmarks/startup.py) ------------

def test_json_output_does_not_import_rich_console():
    code = ("import sys\nfrom attncalc.cli import main\n"
            "try:\n    main(['count', 'gpt3', '--format', 'json'])\nexcept SystemExit:\n    pass\n"
            "sys.stderr.write(' '.join(m for m in ('rich.console', 'rich.table', 'attncalc.cli.run', "
            "'attncalc.cli.compare') if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0 and r.stderr == "", r.stderr


def test_help_still_lists_every_command(cli):
    r = subprocess.run([sys.executable, "-m", "attncalc", "--help"], capture_output=True, text=True, cwd=ROOT,
                       timeout=120, env={**os.environ, "COLUMNS": "120", "NO_COLOR": "1"})
    for name in ("count", "compare", "check", "explain", "list", "show", "init", "run"):
        assert f" {name} " in r.stdout, name



def test_ascii_only_stdout_keeps_json_exact():
    utf8 = run("count", "gpt3", "--format", "json", capture_output=True)
    ascii_ = run("count", "gpt3", "--format", "json", env={"PYTHONIOENCODING": "ascii"}, capture_output=True)
    assert ascii_.returncode == 0 and ascii_.stdout.decode("ascii")
    assert json.loads(ascii_.stdout) == json.loads(utf8.stdout)
    assert "×" in utf8.stdout.decode()  # the formulas do carry a non-ASCII sign


def test_text_helpers_for_rich_and_messages():
    from rich.console import Console

    from attncalc.errors import markup_safe, printable, shown

    console = Console(record=True, width=200, color_system=None)
    texts = ["[/]x", "[bold]y[/bold]", "a\\", "[link=file:///etc]z[/link]", ":warning:"]
    for text in texts:  # Console.print parses markup: the escaped text survives as typed, the real tag works
        console.print(markup_safe(text) + "[bold]![/bold]", emoji=False)
    assert console.export_text().splitlines() == [t + "!" for t in texts]
    assert printable("a\x1b[2Jb\u202e") == "a\\x1b[2Jb\\u202e"
    assert "digits" in shown(10**5000) and len(shown("n" * 10**6)) < 100 and len(shown(list(range(10**5)))) < 40
