"""`attncalc time MODEL --hw NAME --gpus N --tp T --pp P --dp D …`: the training step of a layout
(core/time/step.py), and with --tokens the run's GPU hours, energy and cost."""

from __future__ import annotations

from ..errors import WorkloadError
from .common import Format, emit
from .faults import say


def training_step(arch, hw_ref, fmt: Format, *, seq: int, gpus: int, dtype: str | None, tokens: str | None,
                  price: str | None, tp, pp, dp, ep, cp, micro_batch, global_batch, schedule, virtual_stages, zero,
                  sequence_parallel, overlap, recompute, attention_kernel=None) -> None:
    from ..core.time.setup import exact_number
    from ..core.time.step import TrainLayout, prepare, step_time
    from ..core.workload import positive
    from .options import parse_tokens
    hardware = hw_ref  # resolved by cli.time (importing it here would be a cycle)
    tp, pp, cp, ep = (positive(f, v) if v is not None else 1 for f, v in
                      (("--tp", tp), ("--pp", pp), ("--cp", cp), ("--ep", ep)))
    if dp is None and gpus == 1:  # --gpus not given: the degrees say how many
        dp = 1
    if dp is None:
        if gpus % (tp * pp * cp):
            raise WorkloadError(f"--gpus {gpus} is not a multiple of tp x pp x cp = {tp * pp * cp}")
        dp = gpus // (tp * pp * cp)
    elif gpus != 1 and tp * pp * cp * positive("--dp", dp) != gpus:
        raise WorkloadError(f"--gpus {gpus} is not tp x pp x dp x cp = {tp * pp * dp * cp}")
    mb = 1 if micro_batch is None else positive("--micro-batch", micro_batch)
    gb = dp * mb if global_batch is None else positive("--global-batch", global_batch)
    layout = TrainLayout(tp=tp, pp=pp, dp=positive("--dp", dp), ep=ep, cp=cp, micro_batch=mb, global_batch=gb,
                         virtual_stages=1 if virtual_stages is None else positive("--virtual-stages", virtual_stages),
                         recompute=recompute or "selective",
                         sequence_parallel=True if sequence_parallel is None else sequence_parallel,
                         zero=1 if zero is None else zero, schedule=(schedule or "1f1b").lower())
    dtype = dtype or ("bf16" if "bf16" in hardware.dense else "fp32")
    p = prepare(arch, hardware, seq=seq, dtype=dtype, overlap=overlap or "default",
                attention=attention_kernel or "flash")
    st = step_time(p, layout)
    run = None
    tok = parse_tokens(tokens)
    if price is not None and tok is None:
        raise WorkloadError("--price-per-gpu-hour needs --tokens (the run to price)")
    if tok is not None:
        from ..present.step_document import run_cost

        money = None
        if price is not None:
            money = exact_number(price, "--price-per-gpu-hour")
            if money <= 0:
                raise WorkloadError(f"--price-per-gpu-hour must be positive, got {price}")
        run = run_cost(st, p, tok, money)
        if not hardware.power_w:
            say(f"{hardware.name}: no power_w in the hardware file, so no energy figure")
    from ..present.document import SCHEMA_VERSION, to_csv, to_json
    from ..present.step_document import step_blocks, step_document

    doc = {"schema_version": SCHEMA_VERSION, "model": arch.name, "hardware": hardware.as_dict(),
           "time": {"training": step_document(st, p, layout, run)}}
    if fmt is Format.json:
        emit(to_json(doc))
    elif fmt is Format.csv:
        emit(to_csv(doc))
    else:
        from ..present.tables import markdown, print_page

        blocks = step_blocks(st, p, layout, run)
        emit(markdown(blocks)) if fmt is Format.markdown else print_page(blocks)
