"""`attncalc count MODEL`: the exact breakdown, per matrix, per head, per block and in total."""

from __future__ import annotations

import typer

from . import app
from .common import Format, emit, fail, handles_errors
from .options import (Latent, LatentMode, Sparse, SparseMode, Attention, AttentionMode, Batch, Context, DFf, DModel, Dtype, EncoderSeq, KvDtype, Macs, NHeads,
                      NKvHeads, NLayers, Ops, OpsMode, OptModel, Recompute, Seq, Sets, Tokens, Vocab, load,
                      parse_tokens)


@app.command(epilog="Examples: attncalc count gpt3 · attncalc count gpt3 --tokens 300e9 · "
                    "attncalc count llama-3-8b --seq 8192 --attention full --format json · "
                    "attncalc count ./config.json --format csv · attncalc count llama-2-7b --set n_kv_heads=8 · "
                    "attncalc count --d-model 4096 --n-layers 32 --n-heads 32")
@handles_errors
def count(
    model: OptModel = None,
    fmt: Format = typer.Option(Format.table, "--format", "-f", help="Output format."),
    batch: Batch = 1, seq: Seq = None, context: Context = None, tokens: Tokens = None,
    encoder_seq: EncoderSeq = None,
    recompute: Recompute = False, attention: Attention = AttentionMode.auto, ops: Ops = OpsMode.matmul,
    macs: Macs = False, latent: Latent = LatentMode.naive, sparse: Sparse = SparseMode.topk, dtype: Dtype = "bf16", kv_dtype: KvDtype = None, sets: Sets = None,
    d_model: DModel = None, n_layers: NLayers = None, n_heads: NHeads = None, n_kv_heads: NKvHeads = None,
    d_ff: DFf = None, vocab_size: Vocab = None,
    summary: bool = typer.Option(False, "--summary", "-q", help="Only the headline: total, one head, all heads, "
                                 "FLOPs per token, KV bytes per token, weights."),
    hw: str = typer.Option(None, "--hw", help="Also the roofline time bounds on this hardware (`attncalc list-hw`, "
                           "a TOML file, or `this`); `attncalc time` has every option.", show_default=False),
    train: bool = typer.Option(False, "--train", help="Also training memory per GPU: activations per tensor "
                               "(micro-batch --batch, sequence --seq), Adam, one GPU; `attncalc fit` has every option."),
    serve: bool = typer.Option(False, "--serve", help="Also serving memory and fit at --batch and --context on one GPU; "
                               "`attncalc fit --serve` has every option."),
) -> None:
    """Count parameters, FLOPs and memory exactly: per matrix, per head, per block, in total."""
    from ..core.report import build
    from ..core.workload import Convention, Workload

    checkpoint = _checkpoint(model, fmt)  # issue 20 item 4: a folder of safetensors, a GGUF file
    if checkpoint is _DONE:
        return
    arch = load(model, sets, d_model=d_model, n_layers=n_layers, n_heads=n_heads, n_kv_heads=n_kv_heads,
                d_ff=d_ff, vocab_size=vocab_size)
    conv = Convention(attention.value, ops.value, macs, latent.value, sparse.value)
    work = Workload(batch, seq, context, parse_tokens(tokens), recompute, dtype, kv_dtype, encoder_seq)
    if encoder_seq is not None and not arch.is_encoder_decoder:
        raise fail(f"--encoder-seq is for encoder-decoder models (T5); {arch.name} has no encoder stack")
    if summary and fmt in (Format.json, Format.csv):
        raise fail(f"--summary is for table and markdown output; --format {fmt.value} gives every figure")
    report = build(arch, work, conv)
    timing = None
    if hw is not None:  # issue 12: the roofline's lower bounds beside the counts (core.roofline)
        from ..core.time.report import time_report
        from ..core.time.setup import Setup
        from .time import resolve_hardware

        w = report.flops.workload
        timing = time_report(arch, Setup(resolve_hardware(hw), dtype, None, kv_dtype), batch=w.batch,
                             seq=w.seq, context=w.context, tokens=w.tokens, conv=conv)
    extra = None
    if train or serve:  # issue 11: memory per GPU, by the core's memory plan at this workload
        from ..core.memory.plan import at_workload, memory_plan

        extra = memory_plan(arch, at_workload(report, train=train, serve=serve))
    recon = None
    if checkpoint is not None:
        from ..core.checkpoint_match import reconcile

        recon = reconcile(arch, checkpoint)
    if fmt in (Format.json, Format.csv):
        from ..present.document import count_document, to_csv, to_json

        from ..present.time_document import time_document

        doc = count_document(report) | (time_document(timing) if timing is not None else {})
        if recon is not None:
            from ..present.checkpoint import checkpoint_document

            doc["checkpoint"] = checkpoint_document(recon)
        if extra is not None:
            from ..present.memory_document import memory_document

            doc["memory"] |= memory_document(extra)["memory"]
        emit(to_json(doc) if fmt is Format.json else to_csv(doc))
        return
    from ..present.headline import headline
    from ..present.tables import Para, markdown, print_page

    blocks = headline(report)
    if not summary:
        from ..present.flop_sections import flop_sections
        from ..present.sections import header_lines, param_sections
        from ..present.terminal import section_table

        header = header_lines(arch) + [f"counting: {report.flops.convention['text']}"]
        blocks += [Para(h, "dim") for h in header]
        from ..present.mixers import kind_section
        from ..present.special import special_section

        kinds = [k for k in (kind_section(report), special_section(report)) if k is not None]
        params = param_sections(arch, report.params)
        blocks += [section_table(sec) for sec in
                   params[:2] + kinds + params[2:] + flop_sections(arch, report.flops, report.memory)]
    if recon is not None:
        from ..present.checkpoint import checkpoint_section
        from ..present.terminal import section_table as table_of

        blocks.append(table_of(checkpoint_section(recon)))
    if extra is not None:
        from ..present.memory_sections import memory_sections
        from ..present.terminal import section_table as drawn

        blocks += [drawn(sec) for sec in memory_sections(extra)]
    if timing is not None:
        from ..present.roofline import summary_rows
        from ..present.tables import TEXT, Column, Table

        t = Table(f"time on {timing.setup.hw.name}: LOWER BOUNDS under the roofline (`attncalc time` for the "
                  "parts and assumptions)", (Column("what", TEXT), Column("bound", TEXT), Column("estimate", TEXT),
                                             Column("bound by", TEXT)), key="time")
        for row in summary_rows(timing):
            t.add(*row)
        blocks.append(t)
    if fmt is Format.markdown:
        emit(markdown(blocks))
    else:
        print_page(blocks)


_DONE = object()


def _checkpoint(model: str | None, fmt: Format):
    """The checkpoint MODEL points at (None: none). A GGUF file of an architecture attncalc does not
    read gets its contents reported alone (and _DONE)."""
    from ..spec.load import checkpoint_location

    where = checkpoint_location(model) if model else None
    if where is None:
        return None
    from ..spec.checkpoint_files import read_checkpoint
    from ..spec.gguf import gguf_architecture

    ck = read_checkpoint(where)
    if ck is None or ck.format != "gguf" or gguf_architecture(ck, str(where)) is not None:
        return ck
    from ..core.checkpoint_match import Reconciliation
    from ..present.checkpoint import checkpoint_document, checkpoint_section

    arch = ck.metadata.get("general.architecture")
    r = Reconciliation(ck.format, ck.files, len(ck.tensors), ck.params, ck.bytes, ck.by_dtype(), None,
                       architecture=arch if isinstance(arch, str) else None,
                       notes=[f"GGUF architecture {arch!r} is not one attncalc reads, so there is no count to "
                              "reconcile with; the file's contents are given"])
    if fmt in (Format.json, Format.csv):
        from ..present.document import envelope, to_csv, to_json

        doc = envelope(model=None, checkpoint=checkpoint_document(r))
        emit(to_json(doc) if fmt is Format.json else to_csv(doc))
        return _DONE
    from ..present.tables import markdown, print_page
    from ..present.terminal import section_table

    blocks = [section_table(checkpoint_section(r))]
    emit(markdown(blocks)) if fmt is Format.markdown else print_page(blocks)
    return _DONE
