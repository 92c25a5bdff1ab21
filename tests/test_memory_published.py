"""Memory figures against the numbers their sources print (none of them written here).

- Korthikanti et al. 2022, "Reducing Activation Recomputation in Large Transformer Models"
  (arXiv:2205.05198): Table 2 (activation bytes per layer for each setting), §4.3 (total with
  pipeline in-flight micro-batches, embedding dropout, output layer), Table 3 (the GPT shapes).
- Megatron-LM megatron/training/theoretical_memory_usage.py (the same authors' code): 18 bytes per
  parameter, distributed optimizer 6 + 12/dp, activations per Table 2 with SP + selective.
- Rajbhandari et al. 2020, "ZeRO" (arXiv:1910.02054), Figure 1: 7.5B parameters, N_d = 64, K = 12:
  120 GB, 31.4 GB, 16.6 GB, 1.9 GB per device.
- peft `print_trainable_parameters()` prints for two published LoRA recipes.
- QLoRA (Dettmers et al. 2023) §3 double quantization; OCP MX v1.0 (MXFP4); NVIDIA's NVFP4.
"""

from __future__ import annotations

from fractions import Fraction as F

import pytest

from attncalc.core.memory.activations import ActivationSettings, activation_memory, block_tensors, total
from attncalc.core.memory.lora import LoraSetup, lora_params
from attncalc.core.memory.quant import QuantScheme, parse_format
from attncalc.core.memory.training import OPTIMIZERS, model_state_bytes
from attncalc.spec.arch import Architecture
from attncalc.spec.load import load_model

# Korthikanti et al. Table 3: (heads a, hidden h, layers L, tensor-parallel t, pipeline p); all with
# s = 2048, vocabulary v = 51200, micro-batch 1.
GPT_SHAPES = {
    "22B": (64, 6144, 48, 8, 1),
    "175B": (96, 12288, 96, 8, 8),
    "530B": (128, 20480, 105, 8, 35),
    "1T": (160, 25600, 128, 8, 64),
}
S, V, B = 2048, 51200, 1


def gpt(a, h, L) -> Architecture:
    return Architecture(vocab_size=V, d_model=h, n_layers=L, n_heads=a, n_ctx=S, unembedding="tied")


def per_layer(arch, **kw) -> F:
    return total(block_tensors(arch, ActivationSettings(seq=S, micro_batch=B, **kw)))


@pytest.mark.parametrize("name", GPT_SHAPES)
def test_korthikanti_table2_every_row(name):
    a, h, L, t, _ = GPT_SHAPES[name]
    m = gpt(a, h, L)
    sbh = S * B * h
    # Table 2, row by row.
    assert per_layer(m) == sbh * (34 + F(5 * a * S, h))  # no parallelism
    assert per_layer(m, tp=t) == sbh * (10 + F(24, t) + F(5 * a * S, h * t))  # tensor parallel (baseline)
    assert per_layer(m, tp=t, sequence_parallel=True) == sbh * (F(34, t) + F(5 * a * S, h * t))  # tensor + sequence
    assert per_layer(m, tp=t, recompute="selective") == sbh * (10 + F(24, t))  # tensor + selective
    assert per_layer(m, tp=t, sequence_parallel=True, recompute="selective") == sbh * F(34, t)  # tensor + sequence + selective
    assert per_layer(m, recompute="full") == sbh * 2  # full activation recomputation


def test_korthikanti_section_4_1_tensor_list():
    """§4.1: attention 11sbh + 5as²b, MLP 19sbh, the two layer norms 4sbh."""
    a, h, L, _, _ = GPT_SHAPES["22B"]
    ts = block_tensors(gpt(a, h, L), ActivationSettings(seq=S, micro_batch=B))
    by = {}
    for x in ts:
        by[x.part] = by.get(x.part, 0) + x.nbytes
    sbh = S * B * h
    assert by["attention"] == 11 * sbh + 5 * a * S * S * B
    assert by["mlp"] == 19 * sbh
    assert by["norms"] == 4 * sbh


@pytest.mark.parametrize("name", GPT_SHAPES)
def test_korthikanti_total_first_stage_sp_selective(name):
    """§4.3 (and Megatron-LM's compute_activation_memory, which implements it): with sequence
    parallelism and selective recomputation the first stage holds p micro-batches of L/p layers,
    sbhL·34/t, plus the embedding dropout masks of the p micro-batches, sbhp/t, plus, only when
    p = 1, the output layer 4sbh(1 + v/h)/t. (Megatron also adds 8sbp bytes of token ids, which
    the paper does not count.)"""
    a, h, L, t, p = GPT_SHAPES[name]
    st = ActivationSettings(seq=S, micro_batch=B, tp=t, pp=p, sequence_parallel=True, recompute="selective")
    m = activation_memory(gpt(a, h, L), st)
    sbh = S * B * h
    expected = F(sbh * L * 34, t) + F(sbh * p, t) + (F(4 * sbh, t) * (1 + F(V, h)) if p == 1 else 0)
    if L % p == 0:
        assert m.stages[0].total == expected
        assert m.peak.stage == 0  # the first stage holds the most
    else:  # 530B: 105 layers on 35 stages: 3 each, even
        raise AssertionError("Table 3 shapes divide evenly")


def test_korthikanti_interleaved_factor():
    """§4.3: the interleaved schedule multiplies the first stage's memory by 1 + (p - 1)/(p·m)."""
    a, h, L, t, p = GPT_SHAPES["175B"]
    plain = ActivationSettings(seq=S, tp=t, pp=p, sequence_parallel=True, recompute="selective", dropout=False)
    inter = ActivationSettings(seq=S, tp=t, pp=p, sequence_parallel=True, recompute="selective", dropout=False,
                               virtual_stages=2)
    m0 = activation_memory(gpt(a, h, L), plain).stages[0].blocks_bytes
    m1 = activation_memory(gpt(a, h, L), inter).stages[0].blocks_bytes
    assert m1 == m0 * (1 + F(p - 1, p * 2))


def test_megatron_bytes_per_parameter():
    """Megatron-LM theoretical_memory_usage.py: 18 bytes/param; distributed optimizer 6 + 12/dp."""
    assert OPTIMIZERS["adam-fp32-grads"].bytes_per_param == 18
    n, dp = 10**9 * 64, 64
    d = model_state_bytes(n, OPTIMIZERS["adam-distributed"], 0, dp)
    assert d.total == n * (6 + F(12, dp))


def test_zero_figure_1():
    """Rajbhandari et al. 2020, Figure 1: Ψ = 7.5B, N_d = 64, K = 12 (mixed-precision Adam):
    baseline 120GB, P_os 31.4GB, P_os+g 16.6GB, P_os+g+p 1.9GB per device (GB = 10^9 bytes)."""
    psi, nd = 7_500_000_000, 64
    printed = {0: "120", 1: "31.4", 2: "16.6", 3: "1.9"}
    for stage, gb in printed.items():
        b = model_state_bytes(psi, OPTIMIZERS["adam"], stage, nd).total
        shown = f"{b / 1e9:.1f}".removesuffix(".0") if stage == 0 else f"{b / 1e9:.1f}"
        assert shown == gb, (stage, b)
    # and the formulas themselves, exactly: (2+2+K)Ψ, 2Ψ+2Ψ+KΨ/Nd, 2Ψ+(2+K)Ψ/Nd, (2+2+K)Ψ/Nd
    assert model_state_bytes(psi, OPTIMIZERS["adam"], 1, nd).total == 4 * psi + F(12 * psi, nd)
    assert model_state_bytes(psi, OPTIMIZERS["adam"], 2, nd).total == 2 * psi + F(14 * psi, nd)
    assert model_state_bytes(psi, OPTIMIZERS["adam"], 3, nd).total == F(16 * psi, nd)


def test_peft_llama_7b_q_v_rank_8():
    """peft print_trainable_parameters() for LLaMA-7B / Llama-2-7b-hf with LoraConfig(r=8,
    target_modules=["q_proj", "v_proj"]) (llama-recipes' default peft config), as printed in public
    fine-tuning logs: 'trainable params: 4,194,304 || all params: 6,742,609,920 ||
    trainable%: 0.06220594176090199'."""
    p = lora_params(load_model("llama-2-7b"), LoraSetup(8, ("q_proj", "v_proj")))
    assert p.total == 4_194_304
    assert p.all_params == 6_742_609_920
    assert float(p.trainable_share * 100) == 0.06220594176090199


def test_peft_bloomz_560m_fused_query_key_value():
    """peft's causal-LM LoRA example on bigscience/bloomz-560m (r=8; peft's default target for BLOOM
    is the fused 'query_key_value'), printed in a public DeepSpeed run log: 'trainable params:
    786,432 || all params: 560,001,024 || trainable%: 0.14043402892063284'. BLOOM-560m from its
    config.json: vocab 250880, hidden 1024, 24 layers, 16 heads, ALiBi, embedding LayerNorm, tied,
    biases everywhere."""
    bloom = Architecture(vocab_size=250880, d_model=1024, n_layers=24, n_heads=16, positions="alibi",
                         embedding_norm=True, unembedding="tied", qkv_bias=True, out_bias=True, mlp_bias=True)
    p = lora_params(bloom, LoraSetup(8, ("query_key_value",)))
    assert p.total == 786_432
    assert p.all_params == 560_001_024
    assert float(p.trainable_share * 100) == 0.14043402892063284


def test_qlora_double_quantization_bits():
    """QLoRA §3: a 64-block fp32 absmax costs 32/64 = 0.5 bits per parameter; double quantization
    8/64 + 32/(64·256) = 0.127 bits per parameter (printed to 3 places)."""
    rows, cols = 4096, 64 * 256  # 4096 × 256 blocks of 64: a whole number of second-level blocks
    n = rows * cols
    assert F(parse_format("nf4").bits_for(rows, cols), n) - 4 == F(1, 2)
    extra = F(parse_format("nf4-dq").bits_for(rows, cols), n) - 4
    assert extra == F(8, 64) + F(32, 64 * 256)
    assert f"{float(extra):.3f}" == "0.127"


def test_mx_and_nvfp4_block_sizes():
    """OCP MX v1.0: a block of 32 FP4 (E2M1) elements shares an 8-bit E8M0 scale: 4.25 bits.
    NVIDIA NVFP4: 16 FP4 elements share an FP8 (E4M3) scale, plus one fp32 per tensor: 4.5 bits."""
    assert F(parse_format("mxfp4").bits_for(4096, 4096), 4096 * 4096) == F(17, 4)
    assert parse_format("nvfp4").bits_for(4096, 4096) == 4096 * 4096 * 4 + 4096 * 256 * 8 + 32


def test_gptq_int4_group_128_with_zero_points():
    """AutoGPTQ packing: 4-bit weights, per group of 128 input columns one fp16 scale and one
    4-bit zero point: 4 + 20/128 bits per weight; symmetric drops the zero point."""
    fmt = parse_format("int4-g128")
    assert F(fmt.bits_for(11008, 4096), 11008 * 4096) == 4 + F(20, 128)
    assert F(parse_format("int4-g128-sym").bits_for(11008, 4096), 11008 * 4096) == 4 + F(16, 128)
    # groups run along the input dimension: 11008 columns = 86 groups exactly
    assert parse_format("int4-g128").bits_for(4096, 11008) == 4096 * 11008 * 4 + 4096 * 86 * 20


def test_quantized_model_keeps_embeddings_and_norms_in_bf16():
    from attncalc.core.memory.quant import quantized

    a = load_model("llama-2-7b")
    q = quantized(a, QuantScheme("int4-g128"))
    leaves = q.leaves
    assert leaves["embedding.token"].format == "bf16"
    assert leaves["unembedding.matrix"].format == "bf16"
    assert leaves["blocks.block.norms.norm"].format == "bf16"
    assert leaves["blocks.block.mlp.up"].format == "int4-g128"
