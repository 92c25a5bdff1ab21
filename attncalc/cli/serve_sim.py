"""`attncalc serve-sim MODEL --engine E --hw HW …`: continuous batching simulated over the time model's
per-step costs, with the engine's own KV capacity: TTFT, time per output token, end-to-end latency,
throughput, the binding limit, queue and KV occupancy over time, cost and energy."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from . import app
from .common import Format, emit, handles_errors
from .options import Model, Sets, load


def _opt(flag: str, help: str):
    return typer.Option(flag, help=help, show_default=False)


@app.command("serve-sim", epilog="Examples: attncalc serve-sim llama-3.1-8b --engine vllm --hw h100-sxm --rate 5 "
                                 "--requests 1000 --prompt-len 2048 --output-len 256 · attncalc serve-sim llama-3.1-8b "
                                 "--hw h100-sxm --rate 10 --draft-tokens 4 --acceptance 0.7 --draft-cost 0.05 · "
                                 "attncalc serve-sim llama-3.1-8b --hw h100-sxm --disaggregate 1:1 "
                                 "--kv-link-bytes-per-s 50e9 --rate 5 --format json")
@handles_errors
def serve_sim(
    model: Model,
    fmt: Format = typer.Option(Format.table, "--format", "-f", help="table, markdown, json or csv."),
    engine: Annotated[str, typer.Option("--engine", help="vllm, sglang or tensorrt-llm: its KV capacity rule and defaults.")] = "vllm",
    engine_version: Annotated[Optional[str], _opt("--engine-version", "The engine's version.")] = None,
    hw: Annotated[Optional[str], _opt("--hw", "The GPU (a hardware file): peaks, bandwidth, link, memory.")] = None,
    gpu_memory: Annotated[Optional[str], _opt("--gpu-memory", "The device's CUDA total (default: the device table's).")] = None,
    gpus: Annotated[Optional[int], _opt("--gpus", "GPUs in all: --tp × instances (alone: data-parallel instances of --tp).")] = None,
    tp: Annotated[int, typer.Option("--tp", help="Tensor-parallel GPUs per instance.")] = 1,
    dp: Annotated[int, typer.Option("--dp", help="Data-parallel instances (requests dealt round robin).")] = 1,
    workload: Annotated[Optional[str], _opt("--workload", "A workload file (TOML or JSON): arrival, rate, requests, prompt, output, prefix_hit, max_concurrency, seed, trace.")] = None,
    rate: Annotated[Optional[str], _opt("--rate", "Poisson arrivals: requests per second ('inf': all at once).")] = None,
    requests: Annotated[Optional[int], _opt("--requests", "Requests to simulate (default 1000).")] = None,
    prompt_len: Annotated[Optional[str], _opt("--prompt-len", "Prompt tokens: N, uniform:LO:HI or a,b,c (default 2048).")] = None,
    output_len: Annotated[Optional[str], _opt("--output-len", "Output tokens: N, uniform:LO:HI or a,b,c (default 256).")] = None,
    max_concurrency: Annotated[Optional[int], _opt("--max-concurrency", "Closed loop: this many clients, each sending its next request when one ends.")] = None,
    trace: Annotated[Optional[str], _opt("--trace", "Arrivals from a trace file (JSON lines: arrival_s, prompt, output[, cached]).")] = None,
    prefix_hit: Annotated[Optional[str], _opt("--prefix-hit", "Share of each prompt found in the prefix cache (0 to <1).")] = None,
    seed: Annotated[Optional[int], _opt("--seed", "Seed of every random draw (default 0).")] = None,
    draft_tokens: Annotated[int, typer.Option("--draft-tokens", help="Speculative decoding: tokens drafted per step (γ; 0: off).")] = 0,
    acceptance: Annotated[str, typer.Option("--acceptance", help="Speculative decoding: mean acceptance α of a drafted token.")] = "0",
    draft_cost: Annotated[str, typer.Option("--draft-cost", help="Speculative decoding: one draft run's time / one target decode step's (c).")] = "0",
    disaggregate: Annotated[Optional[str], _opt("--disaggregate", "P:D prefill and decode instances (each of --tp GPUs).")] = None,
    kv_link: Annotated[Optional[str], _opt("--kv-link-bytes-per-s", "Disaggregation: the KV transfer link per GPU, bytes/s (e.g. 50e9).")] = None,
    kv_latency_us: Annotated[str, typer.Option("--kv-link-latency-us", help="Disaggregation: the link's latency per transfer (µs).")] = "0",
    gpu_memory_utilization: Annotated[Optional[str], _opt("--gpu-memory-utilization", "vLLM's knob.")] = None,
    mem_fraction_static: Annotated[Optional[str], _opt("--mem-fraction-static", "SGLang's knob.")] = None,
    free_gpu_memory_fraction: Annotated[Optional[str], _opt("--free-gpu-memory-fraction", "TensorRT-LLM's knob.")] = None,
    max_model_len: Annotated[Optional[int], _opt("--max-model-len", "Tokens per request the engine allows.")] = None,
    max_num_batched_tokens: Annotated[Optional[int], _opt("--max-num-batched-tokens", "Tokens per step (chunked prefill budget).")] = None,
    max_num_seqs: Annotated[Optional[int], _opt("--max-num-seqs", "Sequences per step.")] = None,
    block_size: Annotated[Optional[int], _opt("--block-size", "Tokens per KV block / page.")] = None,
    kv_cache_dtype: Annotated[str, typer.Option("--kv-cache-dtype", help="auto, bf16, fp8, fp8_ds_mla, nvfp4 …")] = "auto",
    dtype: Annotated[str, typer.Option("--dtype", help="The model's dtype (activations; weights unless --quant).")] = "bf16",
    quant: Annotated[Optional[str], _opt("--quant", "Weights format: fp8, fp8-block128, int4-g128, mxfp4 …")] = None,
    quant_part: Annotated[Optional[list[str]], _opt("--quant-part", "One part's format: expert=mxfp4 (repeatable).")] = None,
    efficiency: Annotated[Optional[str], _opt("--efficiency", "compute=0.6,memory=0.8[,network=0.9] for the step costs (default 0.7, 0.9).")] = None,
    step_overhead_us: Annotated[str, typer.Option("--step-overhead-us", help="A fixed cost per engine step (µs; the roofline has none).")] = "0",
    request_overhead_us: Annotated[str, typer.Option("--request-overhead-us", help="A fixed latency per request before the engine sees it (µs: API server, tokenizer).")] = "0",
    schedule: Annotated[Optional[str], _opt("--schedule", "mixed (vLLM V1, TensorRT-LLM: decodes and prefill chunks in one step) or prefill-first (SGLang); default by engine.")] = None,
    price_per_gpu_hour: Annotated[Optional[str], _opt("--price-per-gpu-hour", "Dollars per GPU-hour: $/M tokens.")] = None,
    watts: Annotated[Optional[str], _opt("--watts", "Watts per GPU: J/token (default: the hardware file's power_watts, if any).")] = None,
    sets: Sets = None,
) -> None:
    """Simulate an engine serving a workload: continuous batching with chunked prefill, prefix caching,
    speculative decoding and prefill/decode disaggregation, over the time model's step costs."""
    from ..core.serve.cost import serving_cost
    from ..core.serve.sim import SimSetup, simulate
    from ..core.serve.steps import step_costs
    from ..core.serve.workload import Workload, load_workload, parse_lengths, read_trace
    from ..core.time.setup import Efficiency, Setup, exact_number, parse_efficiency
    from ..errors import WorkloadError
    from ..units import parse_quantity
    from .fit import _engine_setup

    arch = load(model, sets)
    if hw is None:
        raise WorkloadError("serve-sim needs the GPU: --hw NAME (`attncalc list-hw`)")
    from .time import resolve_hardware

    hardware = resolve_hardware(hw)
    instances = dp
    if gpus is not None:
        if gpus % tp:
            raise WorkloadError(f"--gpus {gpus} is not a multiple of --tp {tp}")
        instances = gpus // tp
    p_inst = d_inst = 0
    if disaggregate is not None:
        try:
            p_inst, d_inst = (int(x) for x in disaggregate.split(":"))
        except ValueError:
            raise WorkloadError(f"--disaggregate: expected P:D such as 1:3, got {disaggregate!r}") from None
        if gpus is not None and (p_inst + d_inst) * tp != gpus:
            raise WorkloadError(f"--disaggregate {disaggregate} × --tp {tp} is not --gpus {gpus}")
    from ..core.memory.quant import QuantScheme, parse_format, parse_overrides

    scheme = None
    if quant is not None or quant_part:
        parse_format(quant or dtype)
        scheme = QuantScheme(quant or dtype, dtype, parse_overrides(quant_part))
    budget = None
    if gpu_memory is not None:
        try:
            budget = parse_quantity(gpu_memory, what="byte")
        except ValueError as err:
            raise WorkloadError(f"--gpu-memory: {err}") from None
    es = _engine_setup(engine, engine_version, hw, budget, None, tp, 1, 1, dtype, scheme, kv_cache_dtype,
                       gpu_memory_utilization, mem_fraction_static, free_gpu_memory_fraction, max_model_len,
                       max_num_batched_tokens, max_num_seqs, block_size)
    from ..core.serve.engines import engine_capacity

    cap = engine_capacity(arch, es)
    eff = parse_efficiency(efficiency) if efficiency else Efficiency()
    setup = Setup(hardware, es.quant.matrices if es.quant.matrices in ("fp8", "int8") else es.dtype,
                  compute_dtype=es.dtype if es.quant.matrices not in ("fp8", "int8") else None,
                  kv_dtype=None, gpus=tp, efficiency=eff)
    overhead = exact_number(step_overhead_us, "--step-overhead-us")
    costs = step_costs(arch, setup, overhead_ns=int(overhead * 1000))
    w = load_workload(workload) if workload else Workload()
    changes = {}
    if rate is not None:
        if rate.strip().lower() in ("inf", "infinity"):
            changes["arrival"] = "burst"
        else:
            changes |= {"arrival": "poisson", "rate": exact_number(rate, "--rate")}
    if max_concurrency is not None:
        changes |= {"arrival": "closed", "max_concurrency": max_concurrency}
    if trace is not None:
        changes |= {"arrival": "trace", "trace": read_trace(trace)}
    if requests is not None:
        changes["requests"] = requests
    if prompt_len is not None:
        changes["prompt"] = parse_lengths(prompt_len, "--prompt-len")
    if output_len is not None:
        changes["output"] = parse_lengths(output_len, "--output-len")
    if prefix_hit is not None:
        changes["prefix_hit"] = exact_number(prefix_hit, "--prefix-hit")
    if seed is not None:
        changes["seed"] = seed
    from dataclasses import replace

    w = replace(w, **changes)
    if w.arrival == "poisson" and w.rate is None:
        raise WorkloadError("give --rate (requests/s; 'inf' for all at once), --max-concurrency, --trace or --workload")
    link = None
    if kv_link is not None:
        try:
            link = parse_quantity(kv_link, what="byte")
        except ValueError as err:
            raise WorkloadError(f"--kv-link-bytes-per-s: {err}") from None
    policy = schedule or ("prefill-first" if cap.engine == "sglang" else "mixed")
    if policy not in ("mixed", "prefill-first"):
        raise WorkloadError(f"--schedule: expected mixed or prefill-first, got {schedule!r}")
    s = SimSetup(cap, costs, instances=instances, draft_tokens=draft_tokens, policy=policy,
                 request_overhead_ns=int(exact_number(request_overhead_us, "--request-overhead-us") * 1000),
                 acceptance=exact_number(acceptance, "--acceptance"), draft_cost=exact_number(draft_cost, "--draft-cost"),
                 prefill_instances=p_inst, decode_instances=d_inst, kv_link_bytes_per_s=link,
                 kv_link_latency_ns=int(exact_number(kv_latency_us, "--kv-link-latency-us") * 1000), seed=w.seed)
    result = simulate(s, w)
    price = exact_number(price_per_gpu_hour, "--price-per-gpu-hour") if price_per_gpu_hour is not None else None
    power, source = None, ""
    if watts is not None:
        power, source = exact_number(watts, "--watts"), "--watts"
    elif getattr(hardware, "power_watts", None):
        power, source = hardware.power_watts, f"{hardware.name} hardware file"
    cost = serving_cost(result, price, power, source) if (price is not None or power is not None) else None
    if fmt in (Format.json, Format.csv):
        from ..present.document import SCHEMA_VERSION, to_csv, to_json
        from ..present.serve_sim import sim_document

        doc = {"schema_version": SCHEMA_VERSION, "model": arch.name, **sim_document(result, cost)}
        emit(to_json(doc) if fmt is Format.json else to_csv(doc))
        return
    from ..present.serve_sim import sim_blocks
    from ..present.tables import markdown, print_page

    title = (f"{arch.name} on {engine} {cap.version}, {hardware.name} × {result.gpus} GPUs"
             f" (tp {tp}{', ' + str(instances) + ' instances' if instances > 1 and not p_inst else ''}"
             f"{f', {p_inst} prefill + {d_inst} decode' if p_inst else ''}): {result.completed} requests")
    blocks = sim_blocks(result, cost, title)
    if fmt is Format.markdown:
        emit(markdown(blocks))
    else:
        print_page(blocks)
