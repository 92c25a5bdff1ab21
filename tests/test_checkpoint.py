"""`attncalc count FOLDER` / `count model.gguf`: what a checkpoint holds, read from its headers alone
(spec/checkpoint.py) and reconciled tensor by tensor with the count (core/reconcile.py).

Every file here is written by the test: headers from the formats' specs with shapes from the golden
data (llama-3.1-8b's layer shapes in golden_2026.json, transformers on meta), and data regions that
are sparse holes (``truncate``), so a 16 GB checkpoint costs nothing on disk. The GGUF reader is
cross-checked against the gguf package (llama.cpp's gguf-py) where one is installed: in this venv,
or the golden venv /work/venv-golden, else that test is skipped."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from attncalc.spec.checkpoint import read_safetensors
from attncalc.spec.gguf import GGML_TYPES, read_gguf

from .conftest import GOLDEN

LLAMA = json.loads((GOLDEN / "golden_2026.json").read_text())["models"]["llama-3.1-8b"]
LLAMA_CONFIG = json.loads((GOLDEN / "hf_configs" / "llama-3-8b.json").read_text())
GGUF_GOLDEN_PY = Path("/work/venv-golden/bin/python")


def numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n


# --- writers (from the formats' specs) ------------------------------------------------------------


def write_safetensors(path: Path, tensors: dict[str, tuple[str, list[int]]], *, header: dict | None = None,
                      length: int | None = None, size: int | None = None, raw: bytes | None = None) -> None:
    """A safetensors file whose data is a hole: the 8-byte length, the JSON header, then ``size``
    bytes (default: exactly what the offsets cover), never written."""
    bits = {"BF16": 16, "F16": 16, "F32": 32, "U8": 8, "I8": 8, "F8_E4M3": 8}
    if header is None:
        header, off = {}, 0
        for name, (dtype, shape) in tensors.items():
            n = numel(shape) * bits[dtype] // 8
            header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + n]}
            off += n
        data = off
    else:
        data = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
    h = raw if raw is not None else json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h) if length is None else length))
        f.write(h)
        f.truncate(8 + len(h) + (data if size is None else size))


def llama_shapes() -> dict[str, list[int]]:
    v, d = LLAMA_CONFIG["vocab_size"], LLAMA_CONFIG["hidden_size"]
    emb = LLAMA["params_by_name"]["embed_tokens"]
    assert emb == v * d  # the golden's embedding is the config's vocabulary x width
    shapes = {"model.embed_tokens.weight": [v, d], "lm_head.weight": [v, d],
              "model.norm.weight": [LLAMA["params_by_name"]["rest_parts"]["model.norm.weight"]]}
    (kind,) = LLAMA["layer_kinds"]
    for i in range(kind["count"]):
        for k, s in kind["param_shapes"].items():
            shapes[f"model.layers.{i}.{k}"] = s
    return shapes


def llama_folder(root: Path, shapes: dict[str, list[int]] | None = None, shards: int = 4, dtype: str = "BF16") -> Path:
    """LLaMA-3-8B as Hugging Face publishes it: config.json, model.safetensors.index.json and
    ``shards`` shards (data as holes)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "config.json").write_text(json.dumps(LLAMA_CONFIG))
    shapes = llama_shapes() if shapes is None else shapes
    names = sorted(shapes)
    per = -(-len(names) // shards)
    weight_map = {}
    for s in range(shards):
        part = names[s * per:(s + 1) * per]
        fn = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        write_safetensors(root / fn, {n: (dtype, shapes[n]) for n in part})
        weight_map.update({n: fn for n in part})
    (root / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    return root


GGUF_TYPES = {name: gid for gid, (name, _, _) in GGML_TYPES.items()}


def _gstr(s: str) -> bytes:
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def _gvalue(v) -> bytes:
    if isinstance(v, bool):
        return struct.pack("<I?", 7, v)
    if isinstance(v, int):
        return struct.pack("<II", 4, v)
    if isinstance(v, float):
        return struct.pack("<If", 6, v)
    if isinstance(v, str):
        return struct.pack("<I", 8) + _gstr(v)
    if isinstance(v, list) and all(isinstance(x, str) for x in v):
        return struct.pack("<IIQ", 9, 8, len(v)) + b"".join(_gstr(x) for x in v)
    raise TypeError(v)


def write_gguf(path: Path, meta: dict, tensors: list[tuple[str, list[int], str]], *, alignment: int = 32,
               version: int = 3, offsets: list[int] | None = None, size: int | None = None,
               n_tensors: int | None = None, n_kv: int | None = None) -> int:
    """A GGUF file from the spec (ggml docs/gguf.md): header, key/values, tensor infos (ne[0]
    first), padding to the alignment, data as a hole. Returns the data's start."""
    head = b"GGUF" + struct.pack("<IQQ", version, len(tensors) if n_tensors is None else n_tensors,
                                 len(meta) if n_kv is None else n_kv)
    head += b"".join(_gstr(k) + _gvalue(v) for k, v in meta.items())
    sizes = []
    for name, dims, t in tensors:
        _, block, per = GGML_TYPES[GGUF_TYPES[t]]
        sizes.append(numel(dims) // block * per)
    if offsets is None:
        offsets, at = [], 0
        for n in sizes:
            offsets.append(at)
            at += -(-n // alignment) * alignment
    for (name, dims, t), off in zip(tensors, offsets):
        head += _gstr(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        head += struct.pack("<IQ", GGUF_TYPES[t], off)
    start = -(-len(head) // alignment) * alignment
    end = max((o + n for o, n in zip(offsets, sizes)), default=0)
    with open(path, "wb") as f:
        f.write(head)
        f.truncate(start + (end if size is None else size))
    return start


def llama_gguf_tensors(quant: str = "Q4_K") -> list[tuple[str, list[int], str]]:
    """LLaMA-3-8B as llama.cpp converts it (names from gguf-py's tensor_mapping, ne[0] first), the
    shapes from the golden's: a Q4_K_M-like mix (Q6_K for the output and the value and down
    projections, F32 norms)."""
    v, d = LLAMA_CONFIG["vocab_size"], LLAMA_CONFIG["hidden_size"]
    (kind,) = LLAMA["layer_kinds"]
    sh = kind["param_shapes"]
    gg = {"attn_q": "self_attn.q_proj.weight", "attn_k": "self_attn.k_proj.weight", "attn_v": "self_attn.v_proj.weight",
          "attn_output": "self_attn.o_proj.weight", "ffn_gate": "mlp.gate_proj.weight", "ffn_up": "mlp.up_proj.weight",
          "ffn_down": "mlp.down_proj.weight"}
    out = [("token_embd.weight", [d, v], quant), ("output_norm.weight", [d], "F32"), ("output.weight", [d, v], "Q6_K"),
           ("rope_freqs.weight", [64], "F32")]
    for i in range(kind["count"]):
        for ours, hf in gg.items():
            rows, cols = sh[hf]
            out.append((f"blk.{i}.{ours}.weight", [cols, rows], "Q6_K" if ours in ("attn_v", "ffn_down") else quant))
        out += [(f"blk.{i}.attn_norm.weight", [d], "F32"), (f"blk.{i}.ffn_norm.weight", [d], "F32")]
    return out


LLAMA_META = {"general.architecture": "llama", "general.name": "Meta Llama 3 8B", "llama.block_count": 32,
              "llama.context_length": 8192, "llama.embedding_length": 4096, "llama.feed_forward_length": 14336,
              "llama.attention.head_count": 32, "llama.attention.head_count_kv": 8, "llama.rope.freq_base": 500000.0,
              "tokenizer.ggml.model": "gpt2"}


# --- safetensors: the real-shaped LLaMA-3-8B ------------------------------------------------------------


def test_llama_3_8b_folder_reconciles_exactly(cli, tmp_path):
    folder = llama_folder(tmp_path / "Meta-Llama-3-8B")
    r = cli("count", str(folder), "--format", "json")
    assert r.code == 0, r.err
    ck = json.loads(r.out)["checkpoint"]
    assert ck["params"] == LLAMA["params_total"] == ck["count_params"] == ck["matched_params"]
    assert ck["bytes"] == 2 * LLAMA["params_total"]
    assert ck["by_dtype"] == {"BF16": {"tensors": 291, "params": LLAMA["params_total"], "bytes": 2 * LLAMA["params_total"]}}
    assert ck["missing"] == [] and ck["unexpected"] == [] and ck["mismatched"] == [] and ck["unmapped"] == []
    assert ck["format"] == "safetensors" and len(ck["files"]) == 4 and ck["tensors"] == 291
    # the table says the same in words
    t = cli("count", str(folder))
    assert "every tensor the count expects is there" in " ".join(t.out.split())


def test_missing_and_unexpected_tensors_are_named(cli, tmp_path):
    shapes = llama_shapes()
    del shapes["model.layers.7.self_attn.k_proj.weight"]
    shapes["model.layers.32.self_attn.q_proj.weight"] = [4096, 4096]  # an MTP-like extra layer
    shapes["model.layers.0.mlp.gate.e_score_correction_bias"] = [8]
    shapes["model.layers.3.self_attn.q_proj.weight_scale_inv"] = [32, 32]
    shapes["vision_tower.patch_embed.weight"] = [64, 3]
    shapes["model.layers.5.mlp.up_proj.weight"] = [14336, 4095]  # a wrong shape
    folder = llama_folder(tmp_path / "m", shapes)
    ck = json.loads(cli("count", str(folder), "--format", "json").out)["checkpoint"]
    assert ck["missing"] == ["model.layers.7.self_attn.k_proj.weight"]
    reasons = {u["name"]: u["reason"] for u in ck["unexpected"]}
    assert reasons == {"model.layers.32.self_attn.q_proj.weight": "layers beyond the model's (multi-token prediction)",
                       "model.layers.0.mlp.gate.e_score_correction_bias": "a buffer, not a parameter",
                       "model.layers.3.self_attn.q_proj.weight_scale_inv": "quantization scales",
                       "vision_tower.patch_embed.weight": "a vision or audio tower"}
    (m,) = ck["mismatched"]
    assert m["layer"] == 5 and m["weights"] == ["mlp.up"] and m["expected"] - m["found"] == 14336
    t = cli("count", str(folder))
    assert t.code == 0 and "1 tensors the count expects are missing" in " ".join(t.out.split())


def test_single_file_and_hf_cache_id(cli, tmp_path, monkeypatch):
    shapes = {k: v for k, v in llama_shapes().items()}
    folder = tmp_path / "one"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(LLAMA_CONFIG))
    write_safetensors(folder / "model.safetensors", {n: ("BF16", s) for n, s in shapes.items()})
    ck = json.loads(cli("count", str(folder), "--format", "json").out)["checkpoint"]
    assert ck["files"] == ["model.safetensors"] and ck["params"] == LLAMA["params_total"] and ck["missing"] == []
    # a Hugging Face cache snapshot (offline), found by its id
    hub = tmp_path / "hf" / "hub"
    snap = hub / "models--meta-llama--Meta-Llama-3-8B" / "snapshots" / ("a" * 40)
    llama_folder(snap, shards=2)
    (hub / "models--meta-llama--Meta-Llama-3-8B" / "refs").mkdir()
    (hub / "models--meta-llama--Meta-Llama-3-8B" / "refs" / "main").write_text("a" * 40)
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    r = cli("count", "meta-llama/Meta-Llama-3-8B", "--format", "json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["checkpoint"]["matched_params"] == LLAMA["params_total"]
    # a bare config.json, a preset: no checkpoint section
    assert "checkpoint" not in json.loads(cli("count", "llama-3-8b", "--format", "json").out)
    assert "checkpoint" not in json.loads(cli("count", str(folder / "config.json"), "--format", "json").out)


def test_headers_only_a_700_gb_checkpoint_is_instant(tmp_path):
    """The data is never read: a 700 GB file (a hole) reads as fast as its header."""
    import time

    path = tmp_path / "big.safetensors"
    write_safetensors(path, {"w": ("BF16", [350_000, 1_000_000])})
    assert path.stat().st_size > 7e11
    t0 = time.perf_counter()
    (t,) = read_safetensors(path)
    assert time.perf_counter() - t0 < 0.5 and t.params == 350_000_000_000 and t.nbytes == 7e11


def test_deepseek_style_experts_and_gpt_oss_packed_weights(cli, tmp_path):
    """Per-expert tensors (DeepSeek's checkpoint) reconcile with the description's experts; MXFP4
    blocks (gpt-oss) count two parameters a byte, their scales are named as such."""
    from attncalc import load_model, param_summary
    from attncalc.core.parts.model import describe  # noqa: F401  (the description the table maps)

    cfg = json.loads((GOLDEN / "hf_configs_2026" / "gpt-oss-20b.json").read_text())
    g = json.loads((GOLDEN / "golden_2026.json").read_text())["models"]["gpt-oss-20b"]
    folder = tmp_path / "gpt-oss-20b"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(cfg))
    tensors = {}
    for kind in g["layer_kinds"]:
        for span in kind["indices"]:
            for i in range(span[0], span[-1] + 1):
                for k, s in kind["param_shapes"].items():
                    name = f"model.layers.{i}.{k}"
                    if k in ("mlp.experts.gate_up_proj", "mlp.experts.down_proj"):
                        e, a, b = s  # stored as MXFP4: [E, out, in/32, 16] bytes + [E, out, in/32] scales
                        out, inn = b, a  # transformers keeps them [E, in, out]
                        tensors[name + "_blocks"] = ("U8", [e, out, inn // 32, 16])
                        tensors[name + "_scales"] = ("U8", [e, out, inn // 32])
                    else:
                        tensors[name] = ("BF16", s)
    v, d = cfg["vocab_size"], cfg["hidden_size"]
    names = g["params_by_name"]
    assert names["embed_tokens"] == names["lm_head"] == v * d
    tensors |= {"model.embed_tokens.weight": ("BF16", [v, d]), "lm_head.weight": ("BF16", [v, d]),
                "model.norm.weight": ("BF16", [names["rest_parts"]["model.norm.weight"]])}
    write_safetensors(folder / "model.safetensors", tensors)
    ck = json.loads(cli("count", str(folder), "--format", "json").out)["checkpoint"]
    total = param_summary(load_model(str(folder / "config.json")))["total"]
    assert ck["missing"] == [] and ck["mismatched"] == [] and ck["unmapped"] == []
    assert ck["matched_params"] == total == g["params_total"]
    assert set(ck["unexpected_by_reason"]) == {"quantization scales"}


# --- GGUF ---------------------------------------------------------------------------------------------------


def test_llama_3_8b_gguf(cli, tmp_path):
    path = tmp_path / "Meta-Llama-3-8B-Q4_K_M.gguf"
    tensors = llama_gguf_tensors()
    write_gguf(path, LLAMA_META | {"tokenizer.ggml.tokens": [f"t{i}" for i in range(LLAMA_CONFIG["vocab_size"])]}, tensors)
    r = cli("count", str(path), "--format", "json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    ck = doc["checkpoint"]
    assert doc["params"]["total"] == LLAMA["params_total"] == ck["count_params"] == ck["matched_params"]
    assert ck["params"] == LLAMA["params_total"] + 64  # + rope_freqs, llama.cpp's RoPE scaling buffer
    assert ck["unexpected"] == [{"name": "rope_freqs.weight", "shape": [64], "dtype": "F32", "params": 64,
                                 "reason": "a buffer, not a parameter"}]
    assert ck["missing"] == [] and ck["mismatched"] == [] and ck["architecture"] == "llama"
    # bytes per quantization type: elements / block size x bytes per block (ggml's type table)
    expect: dict[str, int] = {}
    for _, dims, t in tensors:
        _, block, per = GGML_TYPES[GGUF_TYPES[t]]
        expect[t] = expect.get(t, 0) + numel(dims) // block * per
    assert {k: v["bytes"] for k, v in ck["by_dtype"].items()} == expect
    assert doc["model"]["n_kv_heads"] == 8 and doc["model"]["vocab_size"] == LLAMA_CONFIG["vocab_size"]
    table = cli("count", str(path))
    assert table.code == 0 and "Q4_K" in table.out and "Q6_K" in table.out


def test_gguf_of_an_architecture_attncalc_does_not_read(cli, tmp_path):
    path = tmp_path / "rwkv.gguf"
    write_gguf(path, {"general.architecture": "rwkv7", "rwkv7.block_count": 2},
               [("token_embd.weight", [256, 1000], "Q8_0"), ("blk.0.time_mix.weight", [256], "F32")])
    r = cli("count", str(path), "--format", "json")
    assert r.code == 0, r.err
    ck = json.loads(r.out)["checkpoint"]
    assert ck["architecture"] == "rwkv7" and ck["params"] == 256 * 1000 + 256 and ck["names"] is None
    assert ck["by_dtype"]["Q8_0"]["bytes"] == 256 * 1000 // 32 * 34
    t = cli("count", str(path))
    assert t.code == 0 and "rwkv7" in t.out


def _gguf_package() -> str | None:
    """A Python with the gguf package: this one, or the golden venv's."""
    try:
        import gguf  # noqa: F401

        return sys.executable
    except ImportError:
        pass
    if GGUF_GOLDEN_PY.exists() and subprocess.run([str(GGUF_GOLDEN_PY), "-c", "import gguf"], capture_output=True).returncode == 0:
        return str(GGUF_GOLDEN_PY)
    return None


@pytest.mark.skipif(_gguf_package() is None, reason="no gguf package (llama.cpp's gguf-py) to cross-check with")
def test_reader_agrees_with_gguf_py(tmp_path):
    """gguf-py writes a file (its own GGUFWriter, real data) and reads it back (GGUFReader); this
    reader must find the same tensors, types, shapes, byte sizes and metadata."""
    path, dump = tmp_path / "x.gguf", tmp_path / "dump.json"
    script = f"""
import json, numpy as np, gguf
w = gguf.GGUFWriter({str(path)!r}, "llama")
w.add_block_count(2); w.add_embedding_length(64); w.add_uint32("test.u32", 7); w.add_string("test.s", "hé")
w.add_array("test.arr", [1, 2, 3]); w.add_token_list(["a", "bb", "ccc"])
w.add_tensor("f32", np.zeros((3, 5), dtype=np.float32))
w.add_tensor("f16", np.zeros((2, 64), dtype=np.float16))
w.add_tensor("q8", np.zeros((4, 34), dtype=np.uint8), raw_dtype=gguf.GGMLQuantizationType.Q8_0)
w.add_tensor("q4k", np.zeros((2, 144), dtype=np.uint8), raw_dtype=gguf.GGMLQuantizationType.Q4_K)
w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
r = gguf.GGUFReader({str(path)!r})
json.dump({{"tensors": [[t.name, t.tensor_type.name, [int(x) for x in t.shape], int(t.n_bytes)] for t in r.tensors],
           "u32": int(r.fields["test.u32"].parts[-1][0])}}, open({str(dump)!r}, "w"))
"""
    subprocess.run([_gguf_package(), "-c", script], check=True, capture_output=True)
    theirs = json.loads(dump.read_text())
    ck = read_gguf(path)
    assert [[t.name, t.dtype, list(t.shape), t.nbytes] for t in ck.tensors] == theirs["tensors"]
    assert ck.metadata["test.u32"] == theirs["u32"] == 7 and ck.metadata["test.s"] == "hé"
    assert ck.metadata["test.arr"] == [1, 2, 3] and ck.metadata["general.architecture"] == "llama"
    assert ck.metadata["tokenizer.ggml.tokens"].length == 3


# --- hostile headers: one line naming the file and the problem, exit 2 ----------------------------------------


def _one_line(r, path: Path, words: str):
    assert r.code == 2 and r.out == "", (r.code, r.out, r.err)
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0] and words in lines[0], r.err
    assert "Traceback" not in r.err


SAFETENSORS_CASES = {
    "length past the end": (dict(length=10_000), "runs past the end"),
    "huge header": (dict(length=2**40), "over the 100,000,000-byte cap"),
    "not JSON": (dict(raw=b"{not json"), "not JSON"),
    "not an object": (dict(raw=b"[1, 2]"), "not a JSON object"),
    "unknown dtype": (dict(header={"w": {"dtype": "Q4", "shape": [2], "data_offsets": [0, 1]}}), "unknown dtype"),
    "negative offset": (dict(header={"w": {"dtype": "U8", "shape": [2], "data_offsets": [-2, 0]}}), "data_offsets"),
    "offsets backwards": (dict(header={"w": {"dtype": "U8", "shape": [0], "data_offsets": [4, 2]}}, size=4),
                          "end 2 before"),
    "overlapping": (dict(header={"a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]},
                                 "b": {"dtype": "U8", "shape": [4], "data_offsets": [2, 6]}}), "overlaps"),
    "a hole": (dict(header={"a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]},
                            "b": {"dtype": "U8", "shape": [4], "data_offsets": [8, 12]}}), "a hole"),
    "shape against offsets": (dict(header={"w": {"dtype": "BF16", "shape": [4], "data_offsets": [0, 4]}}),
                              "needs 8 bytes"),
    "truncated data": (dict(header={"w": {"dtype": "U8", "shape": [100], "data_offsets": [0, 100]}}, size=50),
                       "past the 50 bytes"),
    "bad shape": (dict(header={"w": {"dtype": "U8", "shape": [-1], "data_offsets": [0, 0]}}), "shape"),
    "deep JSON": (dict(raw=b"[" * 100_000 + b"]" * 100_000), "header"),
}


@pytest.mark.parametrize("case", sorted(SAFETENSORS_CASES))
def test_hostile_safetensors(cli, tmp_path, case):
    kw, words = SAFETENSORS_CASES[case]
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(LLAMA_CONFIG))
    path = folder / "model.safetensors"
    write_safetensors(path, {}, **kw)
    _one_line(cli("count", str(folder)), path, words)


def test_truncated_below_the_length_prefix(cli, tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(LLAMA_CONFIG))
    (folder / "model.safetensors").write_bytes(b"\x01\x02")
    _one_line(cli("count", str(folder)), folder / "model.safetensors", "truncated")


@pytest.mark.parametrize("case", ["escapes the folder", "missing shard", "tensor not in its shard", "duplicate tensor",
                                  "not an index"])
def test_hostile_index(cli, tmp_path, case):
    folder = llama_folder(tmp_path / "m", {"a": [2], "b": [2]}, shards=2)
    index = folder / "model.safetensors.index.json"
    wm = json.loads(index.read_text())["weight_map"]
    bad = index
    if case == "escapes the folder":
        wm["a"] = "../other.safetensors"
        words = "not a .safetensors file beside the index"
    elif case == "missing shard":
        wm["a"] = "model-00009-of-00009.safetensors"
        bad, words = folder / "model-00009-of-00009.safetensors", "missing"
    elif case == "tensor not in its shard":
        wm["c"] = wm["a"]
        words = "no shard holds it"
    elif case == "duplicate tensor":
        write_safetensors(folder / wm["b"], {"b": ("BF16", [2]), "a": ("BF16", [2])})
        bad, words = folder / wm["b"], "also in"
    else:
        index.write_text("[1]")
        words = "no weight_map"
    if case not in ("duplicate tensor", "not an index"):
        index.write_text(json.dumps({"weight_map": wm}))
    _one_line(cli("count", str(folder)), bad, words)


def _gguf_ok(tmp_path, **kw) -> Path:
    path = tmp_path / "m.gguf"
    write_gguf(path, LLAMA_META, [("token_embd.weight", [4096, 1000], "Q4_K")], **kw)
    return path


GGUF_CASES = {
    "absurd tensor count": (dict(n_tensors=2**62), "tensor count"),
    "absurd metadata count": (dict(n_kv=2**62), "metadata count"),
    "many tensors, tiny file": (dict(n_tensors=10**6 + 1, size=0), "tensor count"),
    "truncated data": (dict(size=100), "runs past the end"),
    "misaligned offset": (dict(offsets=[7]), "not a multiple of the alignment"),
    "bad version": (dict(version=99), "version 99"),
}


@pytest.mark.parametrize("case", sorted(GGUF_CASES))
def test_hostile_gguf(cli, tmp_path, case):
    kw, words = GGUF_CASES[case]
    path = _gguf_ok(tmp_path, **kw)
    _one_line(cli("count", str(path)), path, words)


def test_hostile_gguf_bytes(cli, tmp_path):
    """Headers written byte by byte: bad magic, a string length past the end, an unknown value type,
    an unknown ggml type, too many dimensions, an array too long, overlapping tensors, a truncated file."""
    cases = []
    p = tmp_path / "magic.gguf"
    p.write_bytes(b"GGML" + b"\0" * 40)
    cases.append((p, "no GGUF magic"))
    p = tmp_path / "string.gguf"
    p.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 2**40) + b"key")
    cases.append((p, "metadata key length"))
    p = tmp_path / "vtype.gguf"
    p.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + _gstr("k") + struct.pack("<I", 77) + b"\0" * 16)
    cases.append((p, "unknown value type 77"))
    p = tmp_path / "array.gguf"
    p.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + _gstr("k") + struct.pack("<IIQ", 9, 4, 2**40) + b"\0" * 16)
    cases.append((p, "length of k"))
    p = tmp_path / "gtype.gguf"
    p.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 1, 0) + _gstr("t") + struct.pack("<IQIQ", 1, 32, 4, 0) + b"\0" * 64)
    cases.append((p, "unknown ggml type 4"))
    p = tmp_path / "dims.gguf"
    p.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 1, 0) + _gstr("t") + struct.pack("<I", 1000) + b"\0" * 64)
    cases.append((p, "1,000 dimensions"))
    p = tmp_path / "overlap.gguf"
    write_gguf(p, {}, [("a", [64], "F32"), ("b", [64], "F32")], offsets=[0, 128])
    overlap = tmp_path / "overlap2.gguf"
    write_gguf(overlap, {}, [("a", [64], "F32"), ("b", [64], "F32")], offsets=[0, 32])
    cases.append((overlap, "overlaps"))
    p = tmp_path / "short.gguf"
    p.write_bytes(b"GGUF" + struct.pack("<I", 3))
    cases.append((p, "truncated"))
    p = tmp_path / "rows.gguf"
    write_gguf(p, {}, [("q", [100, 2], "Q4_K")], offsets=[0], size=4096)
    cases.append((p, "multiple of 256"))
    for path, words in cases:
        _one_line(cli("count", str(path)), path, words)


def test_huge_string_array_does_not_hang(tmp_path):
    """A sparse file claiming 10^12 empty strings is refused by the cap, not iterated."""
    import time

    p = tmp_path / "arr.gguf"
    with open(p, "wb") as f:
        f.write(b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + _gstr("tokenizer.ggml.tokens") + struct.pack("<IIQ", 9, 8, 10**12))
        f.truncate(10**13)
    from attncalc.errors import ConfigError

    t0 = time.perf_counter()
    with pytest.raises(ConfigError, match="over the cap"):
        read_gguf(p)
    assert time.perf_counter() - t0 < 1


def test_a_lone_safetensors_file_is_refused_by_name(cli, tmp_path):
    p = tmp_path / "model.safetensors"
    write_safetensors(p, {"w": ("BF16", [2])})
    _one_line(cli("count", str(p)), p, "give the folder")


def test_tensor_name_tables_cover_the_families():
    from attncalc.spec.tensor_names import NAME_TABLES

    for family in ("llama", "mistral", "qwen2", "qwen3", "mixtral", "gemma2", "gemma3_text", "deepseek_v3",
                   "gpt_oss", "gpt2", "deepseek_v32", "longcat_flash", "gemma3n_text"):
        assert family in NAME_TABLES, family


@pytest.mark.parametrize("family,config", [
    ("gemma3n_text", "hf_configs_wave/defaults-gemma3n-text.json"),
    ("deepseek_v32", "hf_configs_wave/deepseek-v3.2-exp.json"),
    ("gpt2", "hf_configs/gpt2-small.json"),
    ("mixtral", "hf_configs/mixtral-8x7b.json"),
    ("qwen2", "hf_configs/qwen2-7b.json"),
    ("gemma2", "hf_configs_2026/gemma-2-9b.json"),
    ("llama", "hf_configs/llama-3-8b.json"),
    ("mistral", "hf_configs/mistral-7b.json"),
    ("qwen3", "hf_configs_2026/qwen3-8b.json"),
    ("qwen3_moe", "hf_configs_2026/qwen3-30b-a3b.json"),
    ("gemma3_text", "hf_configs_2026/gemma-3-1b.json"),
    ("deepseek_v3", "hf_configs_2026/deepseek-v3.json"),
    ("gpt_oss", "hf_configs_2026/gpt-oss-20b.json"),
    ("longcat_flash", "hf_configs_wave/defaults-longcat-flash.json"),
])
def test_every_weight_of_these_families_maps_to_a_tensor(family, config):
    """Nothing of the description is left unmapped, and each layer's expected tensors hold exactly
    its parameters (the checkpoint here: one tensor per expected name, of the expected size)."""
    from attncalc import load_model
    from attncalc.core.evaluate import count_params
    from attncalc.core.checkpoint_match import _groups
    from attncalc.spec.tensor_names import NAME_TABLES

    a = load_model(str(GOLDEN / config))
    groups, unmapped = _groups(a, NAME_TABLES[family], NAME_TABLES[family].prefixes[0], {})
    assert unmapped == []
    assert sum(g.expected for g in groups) == count_params(a).total


def test_gemma3n_checkpoint_keeps_the_kv_sharing_layers_keys(cli, tmp_path):
    """Gemma 3n's checkpoint carries k/v projections on its KV-sharing layers that transformers
    ignores on load (WAVE_NOTES 2.28): they reconcile as unexpected, with that reason; the layer
    shapes are the golden's."""
    g = json.loads((GOLDEN / "golden_wave.json").read_text())["models"]["defaults-gemma3n-text"]
    own = next(k for k in g["layer_kinds"] if "self_attn.k_proj.weight" in k["param_shapes"])["param_shapes"]
    tensors = {}
    for kind in g["layer_kinds"]:
        for span in kind["indices"]:
            for i in range(span[0], span[-1] + 1):
                if kind["stack"] == "model.layers":
                    shapes = dict(kind["param_shapes"])
                    for k in ("self_attn.k_proj.weight", "self_attn.v_proj.weight", "self_attn.k_norm.weight"):
                        shapes[k] = own[k]  # the checkpoint has them on every layer
                    tensors |= {f"model.language_model.layers.{i}.{k}": ("BF16", s) for k, s in shapes.items()}
                else:
                    tensors[f"model.language_model.{kind['stack'].split('.')[-1]}.{i}.weight"] = ("BF16", kind["param_shapes"]["weight"])
    tensors |= {k.replace("model.", "model.language_model.", 1): ("BF16", s) for k, s in g["non_layer_params"].items()}
    folder = tmp_path / "gemma-3n-E4B"
    folder.mkdir()
    (folder / "config.json").write_text((GOLDEN / "hf_configs_wave" / "defaults-gemma3n-text.json").read_text())
    write_safetensors(folder / "model.safetensors", tensors)
    ck = json.loads(cli("count", str(folder), "--format", "json").out)["checkpoint"]
    assert ck["prefix"] == "model.language_model." and ck["missing"] == [] and ck["mismatched"] == []
    assert ck["matched_params"] == g["params_total"] == ck["count_params"]
    (why,) = ck["unexpected_by_reason"]
    assert "KV-sharing" in why and ck["unexpected_by_reason"][why]["tensors"] == 3 * 15


def test_longcat_fused_experts_show_the_zero_expert_rows(cli, tmp_path):
    """A checkpoint saved by transformers (fused experts, gate_up_proj with n_experts + zero_experts
    rows) holds more than the model: each MoE layer's experts group differs by the zero experts'
    rows, the golden's params_in_unused_zero_expert_rows / moe_layers."""
    g = json.loads((GOLDEN / "golden_wave.json").read_text())["models"]["defaults-longcat-flash"]
    (kind,) = g["layer_kinds"]
    tensors = {f"model.layers.{i}.{k}": ("BF16", s) for i in range(kind["count"]) for k, s in kind["param_shapes"].items()}
    tensors |= {k: ("BF16", s) for k, s in g["non_layer_params"].items()}
    folder = tmp_path / "LongCat-Flash-Chat"
    folder.mkdir()
    (folder / "config.json").write_text((GOLDEN / "hf_configs_wave" / "defaults-longcat-flash.json").read_text())
    write_safetensors(folder / "model.safetensors", tensors)
    ck = json.loads(cli("count", str(folder), "--format", "json").out)["checkpoint"]
    assert ck["params"] == g["params_total"] and ck["missing"] == [] and ck["unexpected"] == []
    unused = g["moe"]["params_in_unused_zero_expert_rows"] // g["moe"]["moe_layers"]
    gate_up = [m for m in ck["mismatched"] if m["weights"] == ["mlp.expert.gate", "mlp.expert.up"]]
    assert len(gate_up) == len(ck["mismatched"]) == kind["count"]
    assert all(m["found"] - m["expected"] == unused for m in gate_up)
