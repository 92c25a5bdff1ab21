"""Regenerate tests/golden/golden_mm.json from the configs in hf_configs_mm/.

Outside reference for attncalc's multimodal towers (vision encoders, projectors / mergers, audio
encoders, language model): every number here comes from PyTorch + Hugging Face transformers (and
the models' own processor code), never from attncalc. Models are built on the meta device (no
weights, no download) with eager attention; FLOPs come from torch.utils.flop_counter.
See README.md ("multimodal set") and TOWERS_NOTES.md for sources, versions and caveats.

Run with the golden venv (see README.md; pillow is needed for the image processors), optionally
naming only some models:
    nice /work/venv-golden/bin/python tests/golden/make_golden_mm.py [name ...]
"""

import json
import re
import sys
import time
import traceback
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
import transformers
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_golden import numel  # noqa: E402
from make_golden_2026 import (  # noqa: E402  (same building, layer grouping and MoE rules as the 2026 set)
    DROP_KEYS,
    compact_ranges,
    instantiate,
    is_moe_config,
    moe_facts,
)

HERE = Path(__file__).resolve().parent
CONFIG_DIR = HERE / "hf_configs_mm"
OUT = HERE / "golden_mm.json"

IMAGE_SIZES = {"448x448": (448, 448), "1024x768": (1024, 768)}  # (width, height)
QWEN_EXTRA_SIZES = {"1280x720": (1280, 720)}
QWEN_SECOND_MAX_PIXELS = 1003520  # = 28*28*1280, the "max_pixels=1003520" case of the brief
AUDIO_SECONDS = (30, 10)

# Modules inside a vision tower that sit between the encoder and the language model: counted as
# projector / merger, not as vision encoder (Qwen patch mergers and deepstack mergers, GLM-4V's
# 2x2 downsample conv + merger, Llama 4's pixel-shuffle MLP "vision_adapter").
PROJECTOR_SUBMODULES = ("merger", "deepstack_merger_list", "downsample", "vision_adapter")


# --------------------------------------------------------------------------- loading


def load_raw(name):
    raw = json.loads((CONFIG_DIR / f"{name}.json").read_text())
    return {k: v for k, v in raw.items() if not k.startswith("_") and k not in DROP_KEYS}


def load_pre(name):
    p = CONFIG_DIR / f"{name}.preprocessor.json"
    return json.loads(p.read_text()) if p.exists() else None


def make_config(raw):
    d = dict(raw)
    return transformers.AutoConfig.for_model(d.pop("model_type"), **d)


def build(cfg):
    return instantiate(getattr(transformers, cfg.architectures[0]), cfg)


# --------------------------------------------------------------------------- towers


def tower_modules(model):
    """name -> module for the top-level parts of a multimodal checkpoint."""
    mods = dict(model.named_modules())
    first = lambda *names: next(((n, mods[n]) for n in names if n in mods), (None, None))  # noqa: E731
    vision = first("model.visual", "model.vision_tower", "model.vision_model", "vision_model")
    audio = first("model.audio_tower", "model.encoder")
    projector = first("model.multi_modal_projector", "model.connector", "multi_modal_projector")
    lm = first("model.language_model", "model.text_model", "language_model.model", "model.decoder")
    return vision, audio, projector, lm


def param_owner(model):
    """Every unique parameter -> tower name."""
    (vn, _), (an, _), (pn, _), (ln, _) = tower_modules(model)
    out_emb = model.get_output_embeddings()
    head_ids = {id(p) for p in out_emb.parameters()} if out_emb is not None else set()
    owners = {}
    for n, p in model.named_parameters():  # deduplicated: a tied lm_head is seen under its first name
        if vn and n.startswith(vn + "."):
            rest = n[len(vn) + 1 :]
            tower = "projector" if rest.split(".")[0] in PROJECTOR_SUBMODULES else "vision_encoder"
        elif an and n.startswith(an + "."):
            tower = "audio_encoder"
        elif pn and n.startswith(pn + "."):
            tower = "projector"
        elif ln and n.startswith(ln + "."):
            tower = "language_model"
        elif id(p) in head_ids:
            tower = "lm_head"
        else:
            tower = "other"
        owners[n] = (tower, p)
    return owners


def layer_stack(module):
    """(relative name, ModuleList) of the longest ModuleList directly holding the tower's blocks."""
    lists = [(n, m) for n, m in module.named_modules() if isinstance(m, torch.nn.ModuleList) and len(m)]
    lists = [(n, m) for n, m in lists if not any(n.startswith(o + ".") for o, _ in lists if o != n)]
    return max(lists, key=lambda x: len(x[1])) if lists else (None, None)


def layer_labels(kind_cfg, i):
    labels = {}
    full = getattr(kind_cfg, "fullatt_block_indexes", None)
    if full is not None and getattr(kind_cfg, "window_size", None):
        labels["attention"] = "full" if i in full else f"window({kind_cfg.window_size}px)"
    ds = getattr(kind_cfg, "deepstack_visual_indexes", None)
    if ds:
        labels["deepstack_tap"] = i in ds
    return labels


def tower_detail(module, kind_cfg, projector_names=()):
    """Layer kinds (by parameter name + shape) and the non-layer parameters of one tower."""
    stack_name, stack = layer_stack(module)
    kinds, groups = [], {}
    if stack is not None:
        for i, layer in enumerate(stack):
            sig = (type(layer).__name__, tuple((n, tuple(p.shape)) for n, p in layer.named_parameters()))
            labels = layer_labels(kind_cfg, i) if kind_cfg is not None else {}
            groups.setdefault((sig, tuple(sorted(labels.items()))), []).append(i)
        for (sig, labels), idx in groups.items():
            first = stack[idx[0]]
            kinds.append(
                {
                    "class": sig[0],
                    "labels": dict(labels),
                    "count": len(idx),
                    "indices": compact_ranges(idx),
                    "params_per_layer": numel(first),
                    "param_shapes": {n: list(p.shape) for n, p in first.named_parameters()},
                }
            )
    stack_ids = {id(p) for p in stack.parameters()} if stack is not None else set()
    non_layer = {}
    for n, p in module.named_parameters():
        if id(p) in stack_ids or n.split(".")[0] in projector_names:
            continue
        non_layer[n] = list(p.shape)
    return {
        "stack": stack_name,
        "num_layers": len(stack) if stack is not None else 0,
        "layers_total": numel(stack) if stack is not None else 0,
        "layer_kinds": kinds,
        "non_layer_params": non_layer,
        "non_layer_total": sum(int(np.prod(s)) for s in non_layer.values()),
    }


def params_entry(model, cfg, raw):
    owners = param_owner(model)
    totals = defaultdict(int)
    for tower, p in owners.values():
        totals[tower] += p.numel()
    assert sum(totals.values()) == numel(model)
    (vn, vm), (an, am), (pn, pm), (ln, lm) = tower_modules(model)
    inp, out = model.get_input_embeddings(), model.get_output_embeddings()
    tied = out is not None and out.weight is inp.weight
    entry = {
        "params_total": numel(model),
        "towers": dict(sorted(totals.items())),
        "modules": {"vision": vn, "audio": an, "projector": pn, "language_model": ln},
        "lm_head": {
            "params": out.weight.numel() if out is not None else 0,
            "tied_to_embed_tokens": tied,
            "counted_in_total": not tied,
        },
        "tie_word_embeddings": {
            "in_published_config": raw.get("tie_word_embeddings", (raw.get("text_config") or {}).get("tie_word_embeddings")),
            "config_after_construction": getattr(cfg, "tie_word_embeddings", None),
            "text_config_after_construction": getattr(cfg.get_text_config(), "tie_word_embeddings", None),
            "lm_head_is_embed_tokens": tied,
        },
    }
    vcfg = getattr(cfg, "vision_config", None)
    if vm is not None:
        entry["vision_encoder"] = tower_detail(vm, vcfg, PROJECTOR_SUBMODULES)
        proj_parts = {}
        for sub in PROJECTOR_SUBMODULES:
            m = getattr(vm, sub, None)
            if m is not None:
                proj_parts[f"{vn}.{sub}"] = {n: list(p.shape) for n, p in m.named_parameters()}
        if pm is not None:
            proj_parts[pn] = {n: list(p.shape) for n, p in pm.named_parameters()}
        entry["projector"] = proj_parts
    if am is not None:
        acfg = getattr(cfg, "audio_config", None) or cfg
        entry["audio_encoder"] = tower_detail(am, acfg)
        if pm is not None:
            entry["projector"] = {pn: {n: list(p.shape) for n, p in pm.named_parameters()}}
    moe = moe_facts(model, cfg.get_text_config()) if is_moe_config(cfg.get_text_config()) else None
    if moe:
        entry["moe"] = moe
        entry["params_active"] = moe["params_active"]
    return entry


# --------------------------------------------------------------------------- processors


def stub_tokenizer(special, extra_attrs):
    """A tokenizer that knows only the special tokens (each one id): a stand-in that lets the model's
    own processor class run its placeholder expansion; ordinary text becomes [UNK] words."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {"[UNK]": 0}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="[UNK]", extra_special_tokens=extra_attrs or None
    )
    fast.add_special_tokens({"additional_special_tokens": sorted(set(special) | set((extra_attrs or {}).values()))})
    return fast


class NoProcessorTypeCheck:
    """ProcessorMixin.__init__ checks each sub-processor's class against the auto mappings; without
    torchvision the video-processor mapping is a placeholder and the check itself raises. The check is
    type validation only, so it is skipped while the processor is built (the stand-in tokenizer and
    the PIL image processors would not pass it anyway)."""

    def __enter__(self):
        self.saved = transformers.ProcessorMixin.check_argument_for_proper_class
        transformers.ProcessorMixin.check_argument_for_proper_class = lambda self, name, arg: None

    def __exit__(self, *exc):
        transformers.ProcessorMixin.check_argument_for_proper_class = self.saved


def count_tokens(tokenizer, ids, watch):
    ids = list(ids)
    counts = {t: ids.count(tokenizer.convert_tokens_to_ids(t)) for t in watch}
    return {k: v for k, v in counts.items() if v}


def pil_image(wh):
    from PIL import Image

    return Image.fromarray(np.full((wh[1], wh[0], 3), 128, dtype=np.uint8))


def shapes_of(out, keys):
    res = {}
    for k in keys:
        if k in out and out[k] is not None:
            v = out[k]
            if isinstance(v, torch.Tensor):
                res[k] = list(v.shape) if v.numel() > 64 or k.startswith("pixel") or k.endswith("features") else v.tolist()
            else:
                res[k] = v if not isinstance(v, np.ndarray) else v.tolist()
    return res


def run_processor(proc, tok, text, watch, image=None, audio=None, proc_kwargs=None, keys=()):
    kwargs = dict(proc_kwargs or {})
    if image is not None:
        kwargs["images"] = [image]
    if audio is not None:
        kwargs["audio"] = [audio]
    out = proc(text=[text], return_tensors="pt", **kwargs)
    ids = out["input_ids"][0].tolist()
    res = {"input_ids_len": len(ids), "token_counts": count_tokens(tok, ids, watch)}
    res.update(shapes_of(out, keys))
    return res, out


def module_functions(module_path, names, namespace):
    """Compile only the named module-level functions of a transformers source file (for image
    processing modules that import torchvision at the top but whose size arithmetic is plain Python)."""
    import ast

    src_path = Path(transformers.__file__).parent / module_path
    tree = ast.parse(src_path.read_text())
    tree.body = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in names]
    ns = dict(namespace)
    exec(compile(tree, str(src_path), "exec"), ns)
    return {n: ns[n] for n in names}


def ip_pil(module, cls_name, **kw):
    mod = __import__(f"transformers.models.{module}", fromlist=[cls_name])
    return getattr(mod, cls_name)(**kw)


def clean_pre(pre):
    return {k: v for k, v in (pre or {}).items() if not k.startswith("_") and k not in ("image_processor_type", "processor_class", "feature_extractor_type")}


def media_tokens(name, cfg, pre):
    """Per image / audio size: tokens the LM sees, pixel_values shape, grid, tiles. Also returns the
    processed tensors (shapes + grids) needed to count tower FLOPs."""
    mt = cfg.model_type
    res, feeds = {}, {}
    if mt in ("qwen2_5_vl", "qwen3_vl", "qwen3_vl_moe", "glm4v"):
        from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

        if mt == "glm4v":
            from transformers.models.glm4v.image_processing_pil_glm4v import Glm4vImageProcessorPil as IP
            from transformers.models.glm4v.processing_glm4v import Glm4vProcessor as P

            tokens = ["<|begin_of_image|>", "<|image|>", "<|end_of_image|>", "<|begin_of_video|>", "<|end_of_video|>", "<|video|>"]
            placeholder = "<|begin_of_image|><|image|><|end_of_image|>"
        else:
            IP = Qwen2VLImageProcessorPil
            P = transformers.Qwen2_5_VLProcessor if mt == "qwen2_5_vl" else transformers.Qwen3VLProcessor
            tokens = ["<|vision_start|>", "<|image_pad|>", "<|vision_end|>", "<|video_pad|>"]
            placeholder = "<|vision_start|><|image_pad|><|vision_end|>"
        p = clean_pre(pre)
        for k in ("min_pixels", "max_pixels"):
            p.pop(k, None)  # size{shortest_edge,longest_edge} carries the same values
        cases = dict(IMAGE_SIZES)
        if mt != "glm4v":
            cases.update(QWEN_EXTRA_SIZES)
        variants = {"published": p}
        if mt != "glm4v":
            p2 = json.loads(json.dumps(p))
            p2["size"]["longest_edge"] = QWEN_SECOND_MAX_PIXELS
            variants[f"max_pixels={QWEN_SECOND_MAX_PIXELS}"] = p2
        for vname, vp in variants.items():
            ip = IP(**vp)
            tok = stub_tokenizer(tokens, {})
            proc = P(image_processor=ip, tokenizer=tok, video_processor=None)
            for key, wh in cases.items():
                r, out = run_processor(proc, tok, placeholder, tokens, image=pil_image(wh), keys=("pixel_values", "image_grid_thw"))
                r["lm_image_tokens"] = r["token_counts"].get(tokens[1], 0)
                r["lm_tokens_incl_start_end"] = sum(r["token_counts"].values())
                res[f"{key}|{vname}"] = r
                if vname == "published" or key == "1280x720":
                    feeds[f"{key}|{vname}"] = {"pixel_values": list(out["pixel_values"].shape), "image_grid_thw": out["image_grid_thw"].tolist()}
        res["_counted"] = f"lm_image_tokens counts {tokens[1]} (one per merged 2x2 patch group); lm_tokens_incl_start_end adds the start/end tokens the placeholder carries"
    elif mt == "gemma3":
        from transformers.models.gemma3.image_processing_pil_gemma3 import Gemma3ImageProcessorPil as IP

        p = clean_pre(pre)
        seq = p.pop("image_seq_length")
        tokens = ["<start_of_image>", "<image_soft_token>", "<end_of_image>"]
        tok = stub_tokenizer(tokens, {"boi_token": "<start_of_image>", "image_token": "<image_soft_token>", "eoi_token": "<end_of_image>"})
        proc = transformers.Gemma3Processor(image_processor=IP(**p), tokenizer=tok, image_seq_length=seq)
        for key, wh in IMAGE_SIZES.items():
            r, out = run_processor(proc, tok, "<start_of_image>", tokens, image=pil_image(wh), keys=("pixel_values", "num_crops"))
            r["lm_image_tokens"] = r["token_counts"].get("<image_soft_token>", 0)
            r["lm_tokens_incl_start_end"] = sum(r["token_counts"].values())
            res[key] = r
            feeds[key] = {"pixel_values": list(out["pixel_values"].shape)}
        res["_counted"] = "lm_image_tokens counts <image_soft_token> (mm_tokens_per_image per crop); +2 for <start_of_image>/<end_of_image>; the processor also wraps the image in '\\n\\n' text"
    elif mt in ("mistral3",) or (mt == "llava" and cfg.vision_config.model_type == "pixtral"):

        p = clean_pre(pre)
        merge = pre.get("_spatial_merge_size", 1)
        tokens = ["[IMG]", "[IMG_BREAK]", "[IMG_END]"]
        import math
        from types import SimpleNamespace

        from transformers.image_utils import ChannelDimension, get_image_size
        # Both PixtralImageProcessor backends import image_processing_pixtral.py, which imports
        # torchvision; its get_resize_output_image_size / _num_image_tokens are compiled from that file.
        fns = module_functions("models/pixtral/image_processing_pixtral.py", {"_num_image_tokens", "get_resize_output_image_size"},
                               {"math": math, "get_image_size": get_image_size, "ImageInput": object, "ChannelDimension": ChannelDimension})
        # PixtralProcessor refuses to build without torchvision (requires_backends); its expansion,
        # replace_image_token, only reads these attributes, so it is called with them directly.
        import ast

        src = Path(transformers.__file__).parent / "models" / "pixtral" / "processing_pixtral.py"
        cls_node = next(n for n in ast.parse(src.read_text()).body if isinstance(n, ast.ClassDef) and n.name == "PixtralProcessor")
        meth = next(n for n in cls_node.body if isinstance(n, ast.FunctionDef) and n.name == "replace_image_token")
        ns = {}
        exec(compile(ast.Module(body=[meth], type_ignores=[]), str(src), "exec"), ns)  # processing_pixtral.py imports torchvision too
        PixtralProcessor = SimpleNamespace(replace_image_token=ns["replace_image_token"])
        fake_self = SimpleNamespace(patch_size=p["patch_size"]["height"], spatial_merge_size=merge,
                                    image_token="[IMG]", image_break_token="[IMG_BREAK]", image_end_token="[IMG_END]")
        ps = (p["patch_size"]["height"], p["patch_size"]["width"])
        for key, wh in IMAGE_SIZES.items():
            arr = np.zeros((wh[1], wh[0], 3), dtype=np.uint8)
            h2, w2 = fns["get_resize_output_image_size"](arr, size=p["size"]["longest_edge"], patch_size=ps, input_data_format=ChannelDimension.LAST)
            sizes = [[h2, w2]]
            out = {"pixel_values": torch.empty(1, 3, h2, w2, device="meta")}  # one image: padded to itself
            text = PixtralProcessor.replace_image_token(fake_self, {"image_sizes": sizes}, 0)
            counts = {t: text.count(t) for t in tokens}
            r = {"token_counts": {k: v for k, v in counts.items() if v}, "pixel_values": list(out["pixel_values"].shape), "image_sizes": sizes}
            r["lm_image_tokens"] = counts["[IMG]"]
            r["lm_tokens_incl_break_end"] = sum(counts.values())
            r["method"] = "image_processing_pixtral.get_resize_output_image_size + PixtralProcessor.replace_image_token, called directly (both need torchvision to import/build)"
            res[key] = r
            feeds[key] = {"pixel_values": list(out["pixel_values"].shape), "image_sizes": sizes}
        res["_counted"] = "lm_image_tokens counts [IMG] (one per merged patch); lm_tokens_incl_break_end adds one [IMG_BREAK] per row but the last and the final [IMG_END]; all of them are embedded by the LM"
    elif mt == "llava":
        from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil as IP

        p = clean_pre(pre)
        tok = stub_tokenizer(["<image>"], {"image_token": "<image>"})
        proc = transformers.LlavaProcessor(
            image_processor=IP(**p), tokenizer=tok, patch_size=pre["_patch_size"],
            vision_feature_select_strategy=pre["_vision_feature_select_strategy"],
            num_additional_image_tokens=pre["_num_additional_image_tokens"],
        )
        for key, wh in IMAGE_SIZES.items():
            r, out = run_processor(proc, tok, "<image>", ["<image>"], image=pil_image(wh), keys=("pixel_values",))
            r["lm_image_tokens"] = r["token_counts"].get("<image>", 0)
            res[key] = r
            feeds[key] = {"pixel_values": list(out["pixel_values"].shape)}
        res["_counted"] = "lm_image_tokens counts <image>: (336/14)^2 = 576 patches; the CLS token is dropped by vision_feature_select_strategy 'default'"
    elif mt == "internvl":
        from transformers.models.got_ocr2.image_processing_pil_got_ocr2 import GotOcr2ImageProcessorPil as IP

        p = clean_pre(pre)
        tokens = ["<img>", "<IMG_CONTEXT>", "</img>", "<video>"]
        tok = stub_tokenizer(tokens, {"start_image_token": "<img>", "end_image_token": "</img>", "context_image_token": "<IMG_CONTEXT>", "video_token": "<video>"})
        proc = transformers.InternVLProcessor(image_processor=IP(**p), tokenizer=tok, video_processor=None, image_seq_length=pre["_image_seq_length"])
        for key, wh in IMAGE_SIZES.items():
            r, out = run_processor(proc, tok, "<IMG_CONTEXT>", tokens, image=pil_image(wh), keys=("pixel_values",))
            r["tiles_incl_thumbnail"] = int(out["pixel_values"].shape[0])
            r["lm_image_tokens"] = r["token_counts"].get("<IMG_CONTEXT>", 0)
            r["lm_tokens_incl_start_end"] = sum(r["token_counts"].values())
            res[key] = r
            feeds[key] = {"pixel_values": list(out["pixel_values"].shape)}
        res["_counted"] = "lm_image_tokens counts <IMG_CONTEXT> (256 per 448x448 tile, thumbnail included when more than one tile); +2 for <img>/</img>"
    elif mt in ("smolvlm", "idefics3"):
        from transformers.models.smolvlm.image_processing_pil_smolvlm import SmolVLMImageProcessorPil as IP

        p = clean_pre(pre)
        p.pop("video_sampling", None)
        seq = pre["_processor_config"]["image_seq_len"]
        tokens = ["<fake_token_around_image>", "<image>", "<global-img>", "<end_of_utterance>"] + [f"<row_{r}_col_{c}>" for r in range(1, 9) for c in range(1, 9)]
        tok = stub_tokenizer(tokens, {"fake_image_token": "<fake_token_around_image>", "image_token": "<image>", "global_image_token": "<global-img>", "end_of_utterance_token": "<end_of_utterance>"})
        proc = transformers.SmolVLMProcessor(image_processor=IP(**p), tokenizer=tok, video_processor=None, image_seq_len=seq)
        for key, wh in IMAGE_SIZES.items():
            r, out = run_processor(proc, tok, "<image>", tokens, image=pil_image(wh), keys=("pixel_values", "rows", "cols"))
            r["tiles_incl_global"] = int(out["pixel_values"].shape[1])
            r["lm_image_tokens"] = r["token_counts"].get("<image>", 0)
            r["lm_tokens_total"] = sum(r["token_counts"].values()) + r["token_counts"].get("[UNK]", 0)
            r["input_ids_all_special"] = r["input_ids_len"]
            res[key] = r
            feeds[key] = {"pixel_values": list(out["pixel_values"].shape)}
        res["_counted"] = "lm_image_tokens counts <image> (image_seq_len = 64 per tile: (512/16)^2 / scale_factor^2); the processor also inserts per tile <fake_token_around_image><row_r_col_c> and, for the global image, <fake_token_around_image><global-img> ... <fake_token_around_image>, plus '\\n' text between rows (counted as [UNK] by the stand-in tokenizer, so input_ids_len is the exact count of LM tokens for the image)"
    elif mt == "paligemma":
        from transformers.models.siglip.image_processing_pil_siglip import SiglipImageProcessorPil as IP

        p = clean_pre(pre)
        seq = p.pop("image_seq_length")
        ip = IP(**p)
        ip.image_seq_length = seq
        tok = stub_tokenizer(["<image>", "<bos>", "<eos>"], {"image_token": "<image>"})
        tok.bos_token, tok.eos_token = "<bos>", "<eos>"
        proc = transformers.PaliGemmaProcessor(image_processor=ip, tokenizer=tok)
        for key, wh in IMAGE_SIZES.items():
            r, out = run_processor(proc, tok, "<image>", ["<image>", "<bos>"], image=pil_image(wh), keys=("pixel_values",))
            r["lm_image_tokens"] = r["token_counts"].get("<image>", 0)
            res[key] = r
            feeds[key] = {"pixel_values": list(out["pixel_values"].shape)}
        res["_counted"] = "lm_image_tokens counts <image>: fixed (image_size/14)^2 whatever the input size (the image is resized to a square); the processor then adds <bos>, the prompt and '\\n'"
    elif mt == "llama4":
        res, feeds = llama4_tokens(cfg, pre)
    elif mt == "whisper":
        fe = transformers.WhisperFeatureExtractor(**clean_pre(pre))
        for s in AUDIO_SECONDS:
            out = fe(np.zeros(16000 * s, dtype=np.float32), sampling_rate=16000, return_tensors="pt")
            shape = list(out["input_features"].shape)
            res[f"{s}s"] = {
                "input_features": shape,
                "encoder_frames": (shape[-1] - 3 + 2) // 2 + 1,  # conv2: kernel 3, stride 2, padding 1
                "decoder_tokens_from_audio": 0,
            }
            feeds[f"{s}s"] = {"input_features": shape}
        res["_counted"] = "WhisperFeatureExtractor pads every clip to 30 s (3000 mel frames); conv2 (stride 2) gives 1500 encoder frames, which the decoder attends to by cross-attention: the decoder's own sequence holds no audio tokens"
    elif mt == "qwen2_audio":
        fe = transformers.WhisperFeatureExtractor(**clean_pre(pre))
        tokens = ["<|audio_bos|>", "<|AUDIO|>", "<|audio_eos|>"]
        tok = stub_tokenizer(tokens, {})
        proc = transformers.Qwen2AudioProcessor(feature_extractor=fe, tokenizer=tok)
        for s in AUDIO_SECONDS:
            r, out = run_processor(proc, tok, "<|audio_bos|><|AUDIO|><|audio_eos|>", tokens, audio=np.zeros(16000 * s, dtype=np.float32), keys=("input_features", "feature_attention_mask"))
            r["feature_attention_mask_sum"] = int(out["feature_attention_mask"].sum())
            r.pop("feature_attention_mask", None)
            r["lm_audio_tokens"] = r["token_counts"].get("<|AUDIO|>", 0)
            res[f"{s}s"] = r
            feeds[f"{s}s"] = {"input_features": list(out["input_features"].shape), "feature_attention_mask_sum": r["feature_attention_mask_sum"]}
        res["_counted"] = "lm_audio_tokens counts <|AUDIO|>: L = mask sum (mel frames of real audio), conv2 -> (L-1)//2+1, avg-pool(2,2) -> (that-2)//2+1; +2 for <|audio_bos|>/<|audio_eos|>"
    else:
        raise NotImplementedError(mt)
    return res, feeds


def llama4_tokens(cfg, pre):
    """Llama 4's image processor is torchvision-only (Llama4ImageProcessorFast), and torchvision 0.28 for
    CPU torch is not on PyPI; its module-level arithmetic (find_supported_resolutions, get_best_fit) and
    Llama4Processor._prompt_split_image are pure Python and are called directly."""
    import ast
    import math
    import types
    from collections import defaultdict as _dd
    from functools import lru_cache

    from transformers.image_utils import SizeDict
    from transformers.models.llama4.processing_llama4 import Llama4Processor

    # image_processing_llama4.py imports torchvision at module level; its resolution arithmetic does not
    # use it, so exactly these module-level functions are compiled from that file's source.
    src_path = Path(transformers.__file__).parent / "models" / "llama4" / "image_processing_llama4.py"
    tree = ast.parse(src_path.read_text())
    wanted = {"get_factors", "get_max_res_without_distortion", "find_supported_resolutions", "get_best_fit"}
    tree.body = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in wanted]
    mod = types.SimpleNamespace()
    ns = {"torch": torch, "math": math, "defaultdict": _dd, "lru_cache": lru_cache, "SizeDict": SizeDict}
    exec(compile(tree, str(src_path), "exec"), ns)
    for n in wanted:
        setattr(mod, n, ns[n])
    mod.SizeDict = SizeDict

    tile = pre["size"]["height"]
    vc = cfg.vision_config
    ratio = vc.pixel_shuffle_ratio
    per_tile = int((tile // vc.patch_size) ** 2 * ratio**2)
    res, feeds = {}, {}
    sup = mod.find_supported_resolutions(max_num_chunks=pre["max_patches"], patch_size=mod.SizeDict(height=tile, width=tile))
    for key, (w, h) in IMAGE_SIZES.items():
        best = mod.get_best_fit((h, w), torch.tensor(sup), resize_to_max_canvas=pre["resize_to_max_canvas"])
        rows, cols = int(best[0]) // tile, int(best[1]) // tile
        n_tiles = rows * cols + (1 if rows * cols > 1 else 0)
        # Llama4Processor._prompt_split_image does not read self; the token strings are its literals
        text = Llama4Processor._prompt_split_image(None, aspect_ratio=(rows, cols), num_patches_per_chunk=per_tile)
        names = ("<|image_start|>", "<|patch|>", "<|tile_x_separator|>", "<|tile_y_separator|>", "<|image|>", "<|image_end|>")
        counts = {t: text.count(t) for t in names}
        res[key] = {
            "best_fit_canvas_hw": [int(best[0]), int(best[1])],
            "aspect_ratio_rows_cols": [rows, cols],
            "tiles_incl_global": n_tiles,
            "pixel_values": [n_tiles, 3, tile, tile],
            "token_counts": {k: v for k, v in counts.items() if v},
            "lm_image_tokens": counts["<|patch|>"],
            "lm_tokens_total": sum(counts.values()),
        }
        feeds[key] = {"pixel_values": [n_tiles, 3, tile, tile]}
    res["_counted"] = "computed with image_processing_llama4.find_supported_resolutions/get_best_fit and Llama4Processor._prompt_split_image (no torchvision): lm_image_tokens counts <|patch|> = (336/14)^2 * 0.5^2 = 144 per tile incl. the global tile; lm_tokens_total adds <|image_start|>, <|image|>, <|tile_x_separator|>/<|tile_y_separator|> and <|image_end|>"
    return res, feeds


# --------------------------------------------------------------------------- tower FLOPs


def flop_split(fc, model):
    """Forward FLOPs, by aten op and by tower. FlopCounterMode names modules '<root class>.<path>' from
    each outermost module called, so a tower is found by its class name (and the projector submodules
    inside a vision tower by '<vision class>.<submodule>')."""
    counts = fc.get_flop_counts()
    total = int(fc.get_total_flops())
    by_op = defaultdict(int)
    for op, n in counts["Global"].items():
        by_op[str(op)] += int(n)
    mod_total = lambda key: sum(int(v) for v in counts.get(key, {}).values())  # noqa: E731
    (vn, vm), (an, am), (pn, pm), _ = tower_modules(model)
    split = {}
    if vm is not None:
        vc = type(vm).__name__
        inner = {sub: mod_total(f"{vc}.{sub}") for sub in PROJECTOR_SUBMODULES if getattr(vm, sub, None) is not None}
        split["vision_encoder"] = mod_total(vc) - sum(inner.values())
        split["projector"] = sum(inner.values()) + (mod_total(type(pm).__name__) if pm is not None else 0)
        split["projector_parts"] = {**{f"{vn}.{k}": v for k, v in inner.items()}, **({pn: mod_total(type(pm).__name__)} if pm is not None else {})}
    if am is not None:
        split["audio_encoder"] = mod_total(type(am).__name__)
        if pm is not None:
            split["projector"] = mod_total(type(pm).__name__)
    split["unattributed"] = total - split.get("vision_encoder", 0) - split.get("audio_encoder", 0) - split.get("projector", 0)
    return {"forward": total, "forward_by_op": dict(sorted(by_op.items())), "by_tower": split}


class RotaryOnMeta:
    """Vision towers build their 2-D rotary positions from the (real, CPU) image grid and multiply them
    by the rotary inverse frequencies moved to the device of the (meta) hidden states: CPU x meta is
    refused. The rotary modules' tensor arguments are moved to meta for the call; rotary embeddings
    are elementwise (0 FLOPs in FlopCounterMode) and only their shapes matter here."""

    def __init__(self, model):
        self.mods = [m for m in model.modules() if type(m).__name__.endswith("RotaryEmbedding")]

    def __enter__(self):
        to_meta = lambda x: x.to("meta") if isinstance(x, torch.Tensor) else x  # noqa: E731
        hook = lambda mod, args, kwargs: (tuple(to_meta(a) for a in args), {k: to_meta(v) for k, v in kwargs.items()})  # noqa: E731
        self.handles = [m.register_forward_pre_hook(hook, with_kwargs=True) for m in self.mods]

    def __exit__(self, *exc):
        for h in self.handles:
            h.remove()


def tower_flops(model, cfg, feeds):
    mt = cfg.model_type
    out = {}
    inner = model.model if hasattr(model, "model") else model
    (_, vm), (_, am), _, _ = tower_modules(model)
    dtype = next((vm if vm is not None else am).parameters()).dtype  # inputs in the tower's dtype
    zeros = lambda shape: torch.zeros(shape, device="meta", dtype=dtype)  # noqa: E731
    for key, f in feeds.items():
        try:
            with torch.no_grad(), RotaryOnMeta(model), FlopCounterMode(display=False, depth=None) as fc:
                if mt in ("qwen2_5_vl", "qwen3_vl", "qwen3_vl_moe", "glm4v"):
                    pv = zeros(f["pixel_values"])
                    inner.get_image_features(pv, torch.tensor(f["image_grid_thw"]))
                elif mt == "llama4":
                    pv = zeros(f["pixel_values"])
                    feats = model.get_image_features(pv).last_hidden_state
                    model.multi_modal_projector(feats.view(-1, feats.size(-1)))
                elif mt in ("mistral3",) or (mt == "llava" and cfg.vision_config.model_type == "pixtral"):
                    pv = zeros(f["pixel_values"])
                    inner.get_image_features(pv, image_sizes=torch.tensor(f["image_sizes"]))
                elif mt in ("smolvlm", "idefics3"):
                    pv = zeros(f["pixel_values"])
                    b, n = pv.shape[:2]
                    flat = pv.view(b * n, *pv.shape[2:])  # every tile is a real image here (no padding tiles)
                    mask = torch.ones(flat.shape[0], flat.shape[2], flat.shape[3], dtype=torch.bool, device="meta")
                    p = cfg.vision_config.patch_size
                    pmask = torch.ones(flat.shape[0], flat.shape[2] // p, flat.shape[3] // p, dtype=torch.bool, device="meta")
                    del mask
                    h = inner.vision_model(pixel_values=flat, patch_attention_mask=pmask).last_hidden_state
                    inner.connector(h)
                elif mt in ("whisper",):
                    inner.encoder(zeros(f["input_features"]))
                elif mt == "qwen2_audio":
                    feats = zeros(f["input_features"])
                    h = inner.audio_tower(feats).last_hidden_state
                    inner.multi_modal_projector(h)
                else:
                    pv = zeros(f["pixel_values"])
                    inner.get_image_features(pv)
            out[key] = {"inputs": f, **flop_split(fc, model)}
        except Exception as e:  # recorded, never replaced by a made-up number
            out[key] = {"inputs": f, "failed": f"{type(e).__name__}: {e}"[:600]}
            print(f"  tower FLOPs {key} FAILED: {out[key]['failed'][:300]}", file=sys.stderr, flush=True)
    return out


# --------------------------------------------------------------------------- driver


def run_model(name):
    raw = load_raw(name)
    pre = load_pre(name)
    cfg = make_config(raw)
    model = build(cfg)
    entry = {"config": f"hf_configs_mm/{name}.json", "class": type(model).__name__}
    entry.update(params_entry(model, cfg, raw))
    if pre is None:
        return entry
    entry["preprocessor"] = f"hf_configs_mm/{name}.preprocessor.json"
    try:
        with NoProcessorTypeCheck():
            toks, feeds = media_tokens(name, cfg, pre)
        entry["media_tokens"] = toks
    except Exception as e:
        entry["media_tokens"] = {"failed": f"{type(e).__name__}: {e}"[:600]}
        print(f"  media tokens FAILED: {traceback.format_exc()[-800:]}", file=sys.stderr, flush=True)
        feeds = {}
    entry["tower_flops"] = tower_flops(model, cfg, feeds)
    if entry.get("moe"):
        entry["moe_note"] = "params_active as in golden_2026.json: total minus (E - top_k) x params_per_expert per MoE layer; towers are always active"
    return entry


def main(argv):
    names = argv or sorted(p.name[: -len(".json")] for p in CONFIG_DIR.glob("*.json") if not p.name.endswith(".preprocessor.json"))
    golden = json.loads(OUT.read_text()) if argv and OUT.exists() else {"models": {}}
    golden.update(
        generated_by="tests/golden/make_golden_mm.py",
        torch=torch.__version__,
        transformers=transformers.__version__,
    )
    failures = {}
    for name in names:
        t0 = time.time()
        print(f"{name} ...", file=sys.stderr, flush=True)
        try:
            golden["models"][name] = run_model(name)
        except Exception as e:
            failures[name] = f"{type(e).__name__}: {e}"
            golden["models"][name] = {"failed": failures[name][:600]}
            print(f"  FAILED {traceback.format_exc()[-1500:]}", file=sys.stderr, flush=True)
        print(f"  {time.time() - t0:.1f}s", file=sys.stderr, flush=True)
    golden["models"] = dict(sorted(golden["models"].items()))
    OUT.write_text(json.dumps(golden, indent=1, sort_keys=True) + "\n")
    if failures:
        print(json.dumps(failures, indent=1), file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1:])
