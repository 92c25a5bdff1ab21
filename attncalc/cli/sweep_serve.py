"""`attncalc sweep MODEL --serve`: the serving layouts (tensor parallelism, batch, weight and KV
formats) of a model on N GPUs, weighed by `fit --serve`'s arithmetic and timed by `time`'s roofline."""

from __future__ import annotations

from fractions import Fraction

from .common import Format, emit


def serve_sweep(arch, hardware, *, gpus: int, budget: int, context: int | None, max_batch: int, quant: str,
                kv_dtype: str, tp: int | None, pp: int | None, max_tp: int | None, top: int, price: Fraction | None,
                allowance: int, fmt: Format) -> None:
    from ..core.sweep.serving import ServeSpace, serve_sweep as run
    from ..errors import WorkloadError

    if pp not in (None, 1):
        raise WorkloadError("--serve: pipeline parallelism is held to 1 (the roofline times tensor parallelism only)")
    space = ServeSpace(gpus=gpus, context=arch.n_ctx if context is None else context, max_batch=max_batch,
                       weights=tuple(x.strip() for x in quant.split(",") if x.strip()) or ("bf16",),
                       kv_dtypes=tuple(x.strip() for x in kv_dtype.split(",") if x.strip()) or ("bf16",),
                       max_tp=max_tp or hardware.gpus_per_node or 8, tp=tp, allowance=allowance)
    sw = run(arch, hardware, space, budget, top)
    if fmt is Format.json:
        from ..present.document import envelope, to_json
        from ..present.sweep_document import serve_document

        emit(to_json(envelope(**serve_document(sw, arch.name, hardware.name, price))))
        return
    from ..present.sweep_document import serve_blocks
    from ..present.tables import Table, csv, markdown, print_page

    blocks = serve_blocks(sw, arch.name, hardware.name, price)
    if fmt is Format.csv:
        emit(csv([b for b in blocks if isinstance(b, Table)]))
    elif fmt is Format.markdown:
        emit(markdown(blocks))
    else:
        print_page(blocks)
