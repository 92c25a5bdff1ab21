"""Fuzzing the command line (hypothesis): random argument lists over the real commands and options,
and random TOML / JSON model documents, hostile ones included (deep nesting, huge numbers, floats in
integer fields, wrong types, markup and control characters, NaN).

Whatever the input: exit 0, 1 (a failed budget, `check` only) or 2 (bad input); never a traceback;
on exit 2 one line on stderr and nothing on stdout; each run within a time bound. Runs in-process
through the real entry point (the `cli` fixture) to stay fast. `run` (the Numba kernel) and
`check --budgets` (budgets files) have their own tests.
"""

from __future__ import annotations

import json
import math
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attncalc.spec.arch import FIELDS

SECONDS_PER_RUN = 10  # generous for a shared CI machine; a run takes ~0.01-0.3 s
WORKDIR = Path(tempfile.mkdtemp(prefix="attncalc-fuzz-"))  # init writes here, never in the checkout

PRESETS = ["gpt2-small", "gpt3", "llama-2-7b", "mixtral-8x7b", "bert-base", "falcon-7b", "Gpt3", "gpt-3"]
HOSTILE_STRINGS = [
    "", " ", "nan", "inf", "-inf", "NaN", "1e999999999", "-1%", "1,,0", "10,00", "7b", "1.4T", "4gib", "0.5%",
    "1e61", "9" * 5000, "-0", "0", "0x10", "1_000", "[/]", "[bold]x[/bold]", ":warning:", "\x1b[2J", "a\nb",
    "\u202e", "../../etc/passwd", "/dev/zero", "/", ".", "meta-llama/Llama-3.1-8B", "none", "true", "=",
    "d_model=", "n_heads=0", "d_model=1e23", "d_model=" + "9" * 5000, "name=[/]", "n_kv_heads=none",
    "fp7", "bf16", "float32", "half", "e4m3", "int4",
]
MARKUP = ["[/]", "[/bold]x", "[red]x[/red]", "x[/]", ":warning:", "[link=file:///etc]x[/link]", "\\[x]", "x\\"]
INTS = st.one_of(st.integers(-3, 70_000), st.sampled_from([2**31, 2**53 + 1, 2**63 - 1, 2**63, 10**100]))
VALUE = st.one_of(st.sampled_from(HOSTILE_STRINGS), INTS.map(str), st.text(max_size=12),
                  st.sampled_from(["name=", "notes=", "source=", "family="]).flatmap(
                      lambda k: st.sampled_from(MARKUP).map(lambda m: k + m)))

OPTIONS = {
    "count": ["--format", "--batch", "--seq", "--context", "--tokens", "--recompute", "--attention", "--ops",
              "--macs", "--dtype", "--kv-dtype", "--set", "--d-model", "--n-layers", "--n-heads", "--n-kv-heads",
              "--d-ff", "--vocab-size"],
    "compare": ["--format", "--seq", "--attention", "--dtype", "--set"],
    "check": ["--max-params", "--min-params", "--expect-params", "--tolerance", "--max-non-embedding-params",
              "--max-active-params", "--max-flops-per-token", "--max-training-flops", "--max-kv-cache",
              "--max-weights", "--max-training-memory", "--context", "--seq", "--batch", "--tokens", "--dtype",
              "--kv-dtype", "--set", "--format"],
    "explain": ["--seq", "--attention", "--macs", "--set"],
    "show": ["--format"],
    "list": ["--format"],
    "init": ["--from", "--stdout", "--force", "--follow-links"],
}
FLAGS = {"--recompute", "--macs", "--stdout", "--force", "--follow-links"}
CHOICES = {"--format": ["table", "json", "csv", "markdown", "yaml"], "--attention": ["auto", "causal", "full", "x"],
           "--ops": ["matmul", "all", "x"]}


def option_value(opt: str):
    if opt in CHOICES:
        return st.sampled_from(CHOICES[opt])
    return VALUE


@st.composite
def argument_lists(draw, model_files=()):
    cmd = draw(st.sampled_from(sorted(OPTIONS)))
    models = st.one_of(st.sampled_from(PRESETS + list(model_files)), st.sampled_from(HOSTILE_STRINGS))
    args = [cmd]
    if cmd == "init":  # names that stay inside WORKDIR (or are refused): the fuzzer must not write elsewhere
        args.append(draw(st.sampled_from(["fuzzed", "x.toml", "", " ", "/", ".toml", ".hidden", "dir/"])))
    elif cmd in ("count", "check", "explain", "show"):
        if cmd != "count" or draw(st.booleans()):
            args.append(draw(models))
    elif cmd == "compare":
        args += draw(st.lists(models, min_size=0, max_size=4))
    for opt in draw(st.lists(st.sampled_from(OPTIONS[cmd]), max_size=5)):
        args.append(opt)
        if opt not in FLAGS:
            args.append(draw(option_value(opt)))
    if draw(st.integers(0, 9)) == 0:  # now and then an unknown option or a stray argument
        args.insert(draw(st.integers(0, len(args))), draw(st.sampled_from(["--bogus", "-z", "extra", "--"])))
    return args


def check_outcome(r, args, elapsed):
    assert "Traceback" not in r.err, (args, r.err)
    assert r.code in (0, 1, 2), (args, r.code, r.err)
    assert r.code != 1 or args[0] == "check", (args, r.err)
    if r.code == 2:
        assert r.out == "", (args, r.out[:200])
        assert len(r.err.strip().splitlines()) == 1 and r.err.startswith("attncalc: error: "), (args, r.err[:500])
    assert elapsed < SECONDS_PER_RUN, (args, elapsed)


@pytest.fixture
def in_workdir(monkeypatch):
    monkeypatch.chdir(WORKDIR)


@settings(max_examples=150, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(args=argument_lists())
def test_random_argument_lists(cli, in_workdir, args):
    t0 = time.perf_counter()
    r = cli(*args)
    check_outcome(r, args, time.perf_counter() - t0)


# Random documents -------------------------------------------------------------------------------------------

SCALARS = st.one_of(
    INTS, st.booleans(), st.sampled_from(HOSTILE_STRINGS),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([768.0, 1e23, 4096.5, 2.0**53, -0.0]),
    st.text(max_size=30),
)
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.text(max_size=5), inner, max_size=3)),
                      max_leaves=8)
KEYS = st.one_of(st.sampled_from(sorted(FIELDS) + ["model_type", "hidden_size", "num_attention_heads",
                                                   "num_hidden_layers", "vocab_size", "intermediate_size",
                                                   "num_key_value_heads", "head_dim", "_name_or_path",
                                                   "tie_word_embeddings", "sliding_window"]),
                 st.text(max_size=10))
BASE = {"vocab_size": 10, "d_model": 8, "n_layers": 1, "n_heads": 2}
HF_BASE = {"model_type": "llama", "hidden_size": 8, "num_attention_heads": 2, "num_hidden_layers": 1,
           "intermediate_size": 16, "vocab_size": 10}
MODEL_TYPES = st.sampled_from(["llama", "gpt2", "mistral", "mixtral", "qwen2", "gemma", "phi", "phi3", "falcon",
                               "gpt_neox", "opt", "bert", "t5", ""])


def toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(x)}" for k, x in v.items()) + "}"


def hostile_text(kind: str, depth: int) -> tuple[str, str]:
    """Documents no generator of values makes: nesting past the recursion limit, 5,000-digit numbers."""
    deep = "[" * depth + "]" * depth
    return {
        "deep-json": ("config.json", '{"model_type": "llama", "x": ' + deep + "}"),
        "deep-toml": ("m.toml", "vocab_size = 10\nd_model = 8\nn_layers = 1\nn_heads = 2\nx = " + deep + "\n"),
        "digits-json": ("config.json", '{"model_type": "llama", "hidden_size": ' + "7" * 5000 + "}"),
        "digits-toml": ("m.toml", "vocab_size = 1" + "0" * 5000 + "\nd_model = 8\nn_layers = 1\nn_heads = 2\n"),
        "binary": ("m.toml", "\udcff"),
    }[kind]


@st.composite
def documents(draw) -> tuple[str, str]:
    kind = draw(st.sampled_from(["toml", "json", "json", "hostile"]))
    if kind == "hostile":
        return hostile_text(draw(st.sampled_from(["deep-json", "deep-toml", "digits-json", "digits-toml", "binary"])),
                            draw(st.sampled_from([10, 5_000, 100_000])))
    changes = draw(st.one_of(st.just({}), st.dictionaries(KEYS, VALUES, max_size=4)))  # valid ones too
    if draw(st.integers(0, 3)):  # a user string in a field that every command prints
        field = draw(st.sampled_from(["name", "family", "source", "notes"]))
        changes[field] = draw(st.sampled_from(MARKUP))
    if kind == "toml":
        data = {k: v for k, v in (BASE | changes).items()}
        lines = [f"{json.dumps(k)} = {toml_value(v)}" for k, v in data.items()]
        return "m.toml", "\n".join(lines) + "\n"
    data = HF_BASE | {"model_type": draw(MODEL_TYPES)} | changes
    return "config.json", json.dumps(data)  # NaN and Infinity written as JSON's extension tokens


@settings(max_examples=120, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(doc=documents(), command=st.sampled_from([["count", "--format", "json"], ["count"], ["show"],
                                                  ["explain"], ["compare", "gpt2-small"],
                                                  ["check", "--max-params", "1B"], ["init", "--stdout", "--from"]]))
def test_random_model_documents(cli, in_workdir, doc, command):
    name, text = doc
    path = WORKDIR / "docs" / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    if command[0] == "init":
        args = ["init", "fuzzed", *command[1:], str(path)]
    else:
        args = [command[0], str(path), *command[1:]]
    t0 = time.perf_counter()
    r = cli(*args)
    check_outcome(r, args, time.perf_counter() - t0)
    if r.code == 0 and "--format" in args:
        json.loads(r.out)


@settings(max_examples=40, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(doc=documents(), args=argument_lists())
def test_random_arguments_on_random_documents(cli, in_workdir, doc, args):
    name, text = doc
    path = WORKDIR / "docs2" / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    if len(args) > 1 and args[0] != "init" and not args[1].startswith("-"):
        args = [args[0], str(path), *args[2:]]
    t0 = time.perf_counter()
    r = cli(*args)
    check_outcome(r, args, time.perf_counter() - t0)

