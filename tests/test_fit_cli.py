"""`attncalc fit`: the verdict's exit codes, the JSON keys, bad input."""

from __future__ import annotations

import json


def test_fit_training_fits_and_fails(cli):
    ok = cli("fit", "gpt3", "--tp", "8", "--pp", "8", "--sequence-parallel", "--recompute", "selective",
             "--gpu-memory", "80GiB")
    assert ok.code == 0, ok.err
    assert "fits" in ok.out and "Training memory per GPU" in ok.out
    bad = cli("fit", "gpt3", "--gpu-memory", "80GiB")
    assert bad.code == 1
    assert "does not fit" in bad.out


def test_fit_json_document(cli):
    r = cli("fit", "llama-2-7b", "--dp", "8", "--zero", "3", "--seq", "4096", "--flash", "--no-dropout",
            "--gpu-memory", "80GiB", "--format", "json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    pg = doc["memory"]["per_gpu"]
    assert set(pg) >= {"weights", "gradients", "optimizer", "activations", "allowance", "total"}
    assert pg["total"] == pg["weights"] + pg["gradients"] + pg["optimizer"] + pg["activations"] + pg["allowance"]
    # ZeRO-3 over 8 ranks: 16 bytes per parameter of 6,738,415,616 split 8 ways
    assert pg["weights"] + pg["gradients"] + pg["optimizer"] == 16 * 6_738_415_616 // 8
    acts = doc["memory"]["activations"]
    assert acts["settings"]["flash"] is True and "softmax_output" not in acts["tensors"]
    assert doc["verdict"]["ok"] is True


def test_fit_serving_min_context(cli):
    r = cli("fit", "llama-3-8b", "--serve", "--batch", "8", "--context", "8192", "--quant", "int4-g128",
            "--gpu-memory", "24GiB", "--min-context", "8192", "--format", "json")
    assert r.code == 0, r.err
    sv = json.loads(r.out)["memory"]["serving"]
    assert sv["fits"] is True and sv["max_context"] >= 8192 and sv["max_batch"] >= 8
    r = cli("fit", "llama-3-8b", "--serve", "--batch", "8", "--gpu-memory", "24GiB", "--min-context", "10000000")
    assert r.code == 1


def test_fit_kv_heads_replicated_when_tp_exceeds_kv_heads(cli):
    r = cli("fit", "llama-3-70b", "--serve", "--tp", "16", "--format", "json")
    assert json.loads(r.out)["memory"]["serving"]["kv_heads_per_gpu"] == 1  # 8 KV heads, 16 ranks


def test_fit_lora(cli):
    r = cli("fit", "llama-2-7b", "--lora", "8", "--lora-targets", "q_proj,v_proj", "--quant", "nf4-dq",
            "--format", "json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert doc["params"]["lora"]["total"] == 4_194_304
    # gradients and optimizer state for the adapters only
    assert doc["memory"]["per_gpu"]["gradients"] == 2 * 4_194_304


def test_fit_bad_input(cli):
    for args in (["--zero", "4"], ["--optimizer", "lion"], ["--quant", "int3"], ["--gpu-memory", "lots"],
                 ["--lora", "8", "--lora-targets", "wq"], ["--ep", "3"], ["--recompute", "some"], ["--tp", "5"],
                 ["--min-context", "100"], ["--serve", "--prefill-chunk", "0"], ["--cp", "3"]):
        r = cli("fit", "llama-2-7b", *args)
        assert r.code == 2, args
        assert r.out == ""
        assert r.err.startswith("attncalc: error:") and "Traceback" not in r.err


def test_fit_markdown(cli):
    r = cli("fit", "mixtral-8x7b", "--ep", "8", "--dp", "8", "--tp", "2", "--format", "markdown")
    assert r.code == 0, r.err
    assert "#### Training activations (bytes)" in r.out and "router_probs" in r.out
