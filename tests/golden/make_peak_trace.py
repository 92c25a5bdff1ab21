"""Trace the live bytes of one training step of small transformers models, as the CUDA caching
allocator would count them, on a CPU-only machine: the golden data of tests/test_peak_memory.py.

Run with the golden environment (PyTorch and transformers; no GPU needed):

    /work/venv-golden/bin/python tests/golden/make_peak_trace.py > tests/golden/memory/peak_trace.json

What it runs: transformers' LlamaForCausalLM and GPT2LMHeadModel built from small configs, fp32
weights, the forward and the loss under torch.autocast(bfloat16), backward outside it,
torch.optim.AdamW(fused=True), zero_grad(set_to_none=True); two steps, the second one traced.
How it counts: a TorchDispatchMode sees every tensor an aten op returns; each storage counts once,
rounded up to 512 bytes (the caching allocator's block), from its first appearance until Python's
weak reference to it dies. Only the memory that ops return is seen (no kernel workspaces).

Three things differ on CPU and are made to behave as on CUDA, each written out below:
- autocast's policy: CPU's autocast lists differ from CUDA's for softmax, log_softmax, layer_norm,
  pow, rsqrt and sum; their AutocastCPU kernels are replaced by CUDA's policy (fp32, or fp32 unless
  a dtype is given), as aten/src/ATen/autocast_mode.cpp registers it for AutocastCUDA (the script
  checks that the installed binary registers an AutocastCUDA kernel for each);
- dropout: CPU's F.dropout keeps a mask in the input's dtype; CUDA's takes the fused native_dropout
  (a one-byte bool mask), which this script calls;
- SDPA: the CUDA flash kernel is stood in for by an autograd Function that keeps what
  _scaled_dot_product_flash_attention keeps (q, k, v, the output allocated (b, s, h, d) and
  returned transposed, the fp32 log-sum-exp (b, h, s)); its values are not computed (memory only).
"""

from __future__ import annotations

import json
import sys
import weakref

import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten, tree_map

BF16 = torch.bfloat16
AC = torch._C.DispatchKey.AutocastCPU
_lib = torch.library.Library("aten", "IMPL")


def _cuda_policy() -> list[str]:
    def excluded():
        return torch._C._ExcludeDispatchKeyGuard(torch._C.DispatchKeySet(AC))

    def up(x):
        return x.float() if isinstance(x, torch.Tensor) and x.dtype in (torch.float16, BF16) else x

    def fp32(name):
        op = getattr(getattr(torch.ops.aten, name.split(".")[0]), name.split(".")[1])

        def kernel(*args, **kw):
            with excluded():
                return op(*tree_map(up, args), **tree_map(up, kw))
        _lib.impl(name.replace(".default", ""), kernel, "AutocastCPU")

    def fp32_unless_dtype(name, pos):
        op = getattr(getattr(torch.ops.aten, name.split(".")[0]), name.split(".")[1])

        def kernel(*args, **kw):
            args = list(args)
            with excluded():
                if args[0].dtype in (torch.float16, BF16):
                    if len(args) > pos and args[pos] is None:
                        args[pos] = torch.float32
                    elif len(args) <= pos and kw.get("dtype") is None:
                        kw["dtype"] = torch.float32
                return op(*args, **kw)
        _lib.impl(name, kernel, "AutocastCPU")

    done = []
    for name in ("pow.Tensor_Scalar", "pow.Tensor_Tensor", "rsqrt.default", "layer_norm.default",
                 "native_layer_norm.default"):
        fp32(name)
        done.append(name)
    for name, pos in (("softmax.int", 2), ("log_softmax.int", 2), ("sum.dim_IntList", 3)):
        fp32_unless_dtype(name, pos)
        done.append(name)
    for name in done:
        qualified = "aten::" + name.replace(".default", "")
        assert "AutocastCUDA" in torch._C._dispatch_dump(qualified), name
    return done


def _fused_dropout(input, p=0.5, training=True, inplace=False):
    return torch.ops.aten.native_dropout(input, p, True)[0] if training and p > 0 else input


class _Flash(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v):
        b, h, s, d = q.shape
        with torch.no_grad():
            out = torch.empty(b, s, h, d, dtype=q.dtype).transpose(1, 2)
            out.copy_(q)
            lse = torch.zeros(b, h, s, dtype=torch.float32)
        ctx.save_for_backward(q, k, v, out, lse)
        return out

    @staticmethod
    def backward(ctx, g):
        q, k, v, out, lse = ctx.saved_tensors
        b, h, s, d = q.shape
        # FlashAttention-2's backward: dq, dk, dv, softmax_d (b, h, s) and dq_accum (b, s, h, d) in fp32
        dq = torch.empty_like(q)
        scratch = (torch.empty(b, h, s, dtype=torch.float32), torch.empty(b, s, h, d, dtype=torch.float32))
        dk, dv = torch.empty_like(k), torch.empty_like(v)
        del scratch
        return dq, dk, dv


def _flash_sdpa(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, enable_gqa=False):
    assert attn_mask is None
    if torch.is_autocast_enabled("cpu"):
        query, key, value = (t.to(BF16) if t.dtype == torch.float32 else t for t in (query, key, value))
    return _Flash.apply(query, key, value)


class Tracker(TorchDispatchMode):
    """Live bytes of every storage an op returns, 512-byte blocks, and the peak of each phase."""

    def __init__(self):
        super().__init__()
        self.live: dict[int, int] = {}
        self.cur = 0
        self.where = "setup"
        self.peaks: dict[str, int] = {}
        self._refs = []

    def mark(self, where: str) -> None:
        self.where = where
        self.peaks[where] = max(self.peaks.get(where, 0), self.cur)

    def _add(self, t) -> None:
        if not isinstance(t, torch.Tensor):
            return
        st = t.untyped_storage()
        key = st.data_ptr() if st.nbytes() else id(st)
        if key in self.live:
            return
        n = -(-st.nbytes() // 512) * 512
        self.live[key] = n
        self.cur += n

        def gone(_, key=key, n=n):
            if self.live.get(key) == n:
                del self.live[key]
                self.cur -= n
        self._refs.append(weakref.ref(st, gone))

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_flatten(out)[0]:
            self._add(t)
        self.peaks[self.where] = max(self.peaks.get(self.where, 0), self.cur)
        return out


LLAMA = dict(hidden_size=256, num_hidden_layers=3, num_attention_heads=8, num_key_value_heads=2, head_dim=32,
             intermediate_size=1024, vocab_size=8192, tie_word_embeddings=True, max_position_embeddings=4096)
GPT2 = dict(n_embd=192, n_layer=3, n_head=6, vocab_size=8192, n_positions=1024)
CASES = [
    dict(name="llama-flash", model="llama", config=LLAMA, attention="flash", batch=2, seq=256),
    dict(name="llama-flash-full", model="llama", config=LLAMA, attention="flash", batch=2, seq=256, recompute="full"),
    dict(name="llama-eager", model="llama", config=LLAMA, attention="eager", batch=2, seq=256),
    dict(name="llama-flash-keep-outputs", model="llama", config=LLAMA, attention="flash", batch=2, seq=256,
         keep_outputs=True),
    dict(name="gpt2-flash-dropout", model="gpt2", config=GPT2, attention="flash", batch=2, seq=256),
    dict(name="gpt2-eager-dropout", model="gpt2", config=GPT2, attention="eager", batch=2, seq=256),
    dict(name="gpt2-flash-dropout-full", model="gpt2", config=GPT2, attention="flash", batch=2, seq=256,
         recompute="full"),
]


def run(case: dict) -> dict:
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    T = Tracker()
    with T:
        if case["model"] == "llama":
            cfg = LlamaConfig(**case["config"])
        else:
            cfg = GPT2Config(**case["config"])
        cfg._attn_implementation = "sdpa" if case["attention"] == "flash" else "eager"
        model = (LlamaForCausalLM if case["model"] == "llama" else GPT2LMHeadModel)(cfg)
        if case.get("recompute") == "full":
            model.gradient_checkpointing_enable()
        model.train()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
        ids = torch.randint(0, cfg.vocab_size, (case["batch"], case["seq"]))
        layers = model.model.layers if case["model"] == "llama" else model.transformer.h

        def tag(name):
            def hook(mod, inp, out):
                t = out[0] if isinstance(out, tuple) else out
                if torch.is_tensor(t) and t.requires_grad:
                    t.register_hook(lambda g: T.mark(name))
            return hook
        for i, layer in enumerate(layers):
            layer.register_forward_hook(tag(f"block backward {i}"))
        model.get_input_embeddings().register_forward_hook(tag("embedding backward"))
        for step in (1, 2):
            T.peaks = {}
            T.mark("forward")
            with torch.autocast("cpu", dtype=BF16):
                out = model(input_ids=ids, labels=ids)
                loss = out.loss
            if not case.get("keep_outputs"):
                del out
            T.mark("backward")
            loss.backward()
            T.mark("optimizer step")
            opt.step()
            opt.zero_grad(set_to_none=True)
            T.mark("done")
            if case.get("keep_outputs"):
                del out
            del loss
        peaks = T.peaks
    blocks = [v for k, v in peaks.items() if k.startswith("block backward")]
    return {**case, "params": sum(p.numel() for p in model.parameters()), "traced": {
        "forward end": peaks["forward"], "loss backward": peaks["backward"],
        "block backward": max(blocks), "embedding backward": peaks["embedding backward"],
        "optimizer step": peaks["optimizer step"]}}


def main() -> None:
    import transformers

    F.dropout = _fused_dropout
    torch.nn.modules.dropout.F.dropout = _fused_dropout
    torch.nn.functional.scaled_dot_product_attention = _flash_sdpa
    policy = _cuda_policy()
    out = {"source": "tests/golden/make_peak_trace.py: one training step traced on CPU with CUDA's autocast policy",
           "torch": torch.__version__, "transformers": transformers.__version__, "cuda_policy_ops": policy,
           "cases": [run(c) for c in CASES]}
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
