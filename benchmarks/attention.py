"""Benchmark: one attention block (projections included) through attncalc's numba kernel,
the naive NumPy reference and PyTorch (``scaled_dot_product_attention`` with its projections as
``F.linear``; only when torch is importable), with a same-run BLAS sgemm probe, in one process.

Each round runs every method once at the shape (in a rotating order) plus one sgemm of the
probe's size, so slow drifts of the machine hit all methods alike; the table shows medians over
rounds. GFLOP/s use the executed-FLOP convention below (causal: the useful triangle only), and
"vs sgemm" divides by the median sgemm GFLOP/s of the same rounds.

    python benchmarks/attention.py [--quick] [--repeat N] [--threads N [N ...]] [--json PATH]
                                   [--table PATH] [--shapes NAME ...] [--no-reference]
                                   [--no-torch]

With several thread counts (``--threads 1 2 4 8 16``) every shape runs at each count, and the
table gives per count attncalc's and PyTorch's GFLOP/s and their ratio, then the scaling
efficiency from the smallest to the largest count and any count that made a shape slower.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

# OpenBLAS threads spin for a while after each call (2^28 cycles by default) and steal cycles
# from the kernel's own threads when the reference or the probe ran just before; let them sleep
# at once. Must be set before NumPy loads OpenBLAS.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
# numba's OpenMP layer and PyTorch's OpenMP runtime in one process slow PyTorch down badly.
os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from attncalc.run import execute  # noqa: E402
from attncalc.run import machine as sysinfo  # noqa: E402
from attncalc.run.execute import RunSpec  # noqa: E402

SHAPES = {
    # name: (batch, seq, d_model, n_heads, n_kv_heads, d_head)
    "gpt2-small": (1, 512, 768, 12, 12, 64),
    "s2048-d2048": (1, 2048, 2048, 16, 16, 128),
    "gpt3-width-8h": (1, 2048, 12288, 8, 8, 128),  # 8 of GPT-3's 96 heads, full d_model
    "long-s8192": (1, 8192, 1024, 8, 8, 128),
}


def attention_pairs(seq: int, causal: bool, window: int | None) -> int:
    """(query, key) pairs kept by the mask (same meaning as attncalc.core.flops.attention_pairs)."""
    total = 0
    if window is None:
        return seq * (seq + 1) // 2 if causal else seq * seq
    for i in range(seq):
        lo = max(0, i - window + 1)
        hi = i + 1 if causal else min(seq, i + window)
        total += hi - lo
    return total


def executed_flops(batch, seq, d_model, n_heads, n_kv_heads, d_head, causal, window=None) -> int:
    """Matmul FLOPs (2 per multiply-accumulate): projections, QK^T and A V on kept pairs."""
    proj = 2 * batch * seq * d_model * d_head * (2 * n_heads + 2 * n_kv_heads)
    pairs = attention_pairs(seq, causal, window)
    return proj + 2 * 2 * batch * n_heads * d_head * pairs


class Methods:
    """The contenders at one shape, sharing inputs and weights."""

    def __init__(self, spec: RunSpec, threads: int, use_torch: bool, use_reference: bool):
        self.spec = spec
        self.x, self.w = execute.make_inputs(spec)
        self.out = np.empty_like(self.x)
        self.block = execute.Block(spec, self.w, threads)
        self.names = ["attncalc"]
        if use_reference:
            self.names.append("numpy-naive")
        self.torch = None
        if use_torch:
            import torch

            self.torch = torch
            self.tx = torch.from_numpy(self.x)
            self.tw = [torch.from_numpy(np.ascontiguousarray(a.T)) for a in
                       (self.w.w_q, self.w.w_k, self.w.w_v, self.w.w_o)]
            self.names.append("torch-sdpa")

    def run(self, name: str) -> None:
        s = self.spec
        if name == "attncalc":
            with sysinfo.blas_threads(1):
                self.block(self.x, self.out)
        elif name == "numpy-naive":
            for b in range(s.batch):
                execute.reference_attention(self.x[b], self.w, s.n_heads, s.n_kv_heads,
                                            s.d_head, s.causal, s.window)
        else:
            self._torch()

    def _torch(self) -> None:
        torch, s = self.torch, self.spec
        F = torch.nn.functional
        b, n = s.batch, s.seq
        with torch.inference_mode():
            q = F.linear(self.tx, self.tw[0]).view(b, n, s.n_heads, s.d_head).transpose(1, 2)
            k = F.linear(self.tx, self.tw[1]).view(b, n, s.n_kv_heads, s.d_head).transpose(1, 2)
            v = F.linear(self.tx, self.tw[2]).view(b, n, s.n_kv_heads, s.d_head).transpose(1, 2)
            kw = {"enable_gqa": True} if s.n_kv_heads != s.n_heads else {}
            o = F.scaled_dot_product_attention(q, k, v, is_causal=s.causal, **kw)
            F.linear(o.transpose(1, 2).reshape(b, n, s.n_heads * s.d_head), self.tw[3])


def sgemm_once(a, b, c) -> float:
    t0 = time.perf_counter()
    np.matmul(a, b, out=c)
    dt = time.perf_counter() - t0
    return 2 * a.shape[0] ** 3 / dt / 1e9


def machine_description() -> dict:
    """CPU model, cores and library versions, for the table's caption."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    import numba

    info = {"cpu": model, "cores": sysinfo.cpu_count(), "python": platform.python_version(),
            "numpy": np.__version__, "numba": numba.__version__}
    try:
        import torch

        info["torch"] = torch.__version__
    except ImportError:
        pass
    return info


def make_probe(threads: int) -> tuple:
    """Square float32 operands sized for about 0.1 s of NumPy matmul on ``threads`` threads."""
    gflops = execute.sgemm_probe(threads, target_s=0.05, repeats=1)
    n = max(512, int(round((0.1 * gflops * 1e9 / 2) ** (1 / 3) / 256)) * 256)
    rng = np.random.default_rng(1)
    return (rng.standard_normal((n, n), dtype=np.float32),
            rng.standard_normal((n, n), dtype=np.float32), np.empty((n, n), np.float32))


# Pause between methods: PyTorch's OpenMP threads (and OpenBLAS's) spin for a while after a
# parallel region; a short sleep keeps that spinning out of the next method's timing.
PAUSE_S = 0.02


def run_shape(name: str, causal: bool, threads: int, repeat: int, use_torch: bool,
              use_reference: bool, probe: tuple, warmup: bool = True) -> list[dict]:
    """Every method at one shape and thread count, ``repeat`` rounds; one row per method."""
    import numba

    numba.set_num_threads(threads)
    if use_torch:
        import torch

        torch.set_num_threads(threads)
    b, s, d, h, kvh, dh = SHAPES[name]
    spec = RunSpec(b, s, d, h, kvh, dh, causal=causal, check=False, threads=threads)
    m = Methods(spec, threads, use_torch, use_reference)
    flops = executed_flops(b, s, d, h, kvh, dh, causal)
    for method in m.names if warmup else ():  # warm-up (and torch's first-call setup)
        m.run(method)
    times: dict[str, list[float]] = {k: [] for k in m.names}
    probes = []
    pa, pb, pc = probe
    for r in range(repeat):
        order = m.names[r % len(m.names):] + m.names[:r % len(m.names)]
        for method in order:
            time.sleep(PAUSE_S)
            t = time.perf_counter()
            m.run(method)
            times[method].append(time.perf_counter() - t)
        with sysinfo.blas_threads(threads):
            probes.append(sgemm_once(pa, pb, pc))
    sg = statistics.median(probes)
    rows = []
    lay = m.block.layout
    for method in m.names:
        med = statistics.median(times[method])
        gf = flops / med / 1e9
        rows.append({
            "shape": name, "causal": causal, "method": method, "threads": threads,
            "batch": b, "seq": s, "d_model": d, "n_heads": h, "n_kv_heads": kvh,
            "d_head": dh, "flops": flops, "median_s": med, "min_s": min(times[method]),
            "max_s": max(times[method]), "gflops": gf, "sgemm_gflops": sg,
            "sgemm_spread": (max(probes) - min(probes)) / sg, "ratio_to_sgemm": gf / sg,
            "rounds": repeat,
            "layout": {k: getattr(lay, k) for k in ("heads", "seqs", "block_q", "proj_rows",
                                                     "proj_cols", "out_rows", "out_cols")},
        })
    label = f"{name} {'causal' if causal else 'full'}"
    for row in rows:
        print(f"{label:26s} t{threads:<3d} {row['method']:12s} {row['median_s'] * 1e3:10.2f} ms "
              f"{row['gflops']:8.1f} GF/s {row['ratio_to_sgemm']:6.3f} x sgemm ({sg:.0f})",
              file=sys.stderr, flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="GPT-2 small only, 3 rounds")
    ap.add_argument("--repeat", type=int, default=None, help="rounds per shape (default 5)")
    ap.add_argument("--threads", type=int, nargs="+", default=None,
                    help="thread counts, each for every method (default: all cores)")
    ap.add_argument("--json", metavar="PATH", help="write the results as JSON here")
    ap.add_argument("--table", metavar="PATH", help="also write the thread table (markdown) here")
    ap.add_argument("--shapes", nargs="*", choices=sorted(SHAPES), help="subset of shapes")
    ap.add_argument("--no-reference", action="store_true", help="skip the NumPy reference")
    ap.add_argument("--no-torch", action="store_true", help="skip PyTorch even if importable")
    ap.add_argument("--render", metavar="JSON", help="only print the table of a saved --json run")
    args = ap.parse_args(argv)
    if args.render:
        with open(args.render) as f:
            saved = json.load(f)
        print(thread_table(saved["results"], saved), end="")
        return 0

    repeat = args.repeat or (3 if args.quick else 5)
    names = args.shapes or (["gpt2-small"] if args.quick else list(SHAPES))
    use_torch = False
    if not args.no_torch:
        try:
            import torch  # noqa: F401

            use_torch = True
        except ImportError:
            print("torch not importable: PyTorch column skipped", file=sys.stderr)

    import numba

    from attncalc.run import kernels

    most = numba.config.NUMBA_NUM_THREADS
    counts = args.threads or [sysinfo.cpu_count()]
    skipped = [t for t in counts if t > most or t < 1]
    counts = [t for t in counts if 1 <= t <= most]
    if skipped:
        print(f"thread counts {skipped} skipped: numba allows 1..{most} here", file=sys.stderr)
    if not counts:
        return 2

    t0 = time.perf_counter()
    compile_s, cached = execute.compile_kernel("float32")
    machine = machine_description()
    print(f"kernel ready in {time.perf_counter() - t0:.2f} s ({'cache' if cached else 'compiled'}"
          f"), BLAS {kernels.BLAS_DESCRIPTION}, threads {counts}, numba layer "
          f"{numba.threading_layer()}, {machine}", file=sys.stderr)

    # The probe's size: calibrated once per thread count, then the same n in every round.
    probes = {t: make_probe(t) for t in counts}

    rows: list[dict] = []
    payload = {"machine": machine, "blas_backend": kernels.BLAS_BACKEND,
               "blas": kernels.BLAS_DESCRIPTION, "threading_layer": numba.threading_layer(),
               "threads": counts, "sgemm_n": {t: p[0].shape[0] for t, p in probes.items()},
               "compile_s": compile_s, "cached": cached, "results": rows}

    def save() -> None:
        if args.json:
            with open(args.json, "w") as f:
                f.write(json.dumps(payload, indent=2) + "\n")

    for name in names:
        for causal in (True, False):
            for i, threads in enumerate(counts):
                # warm-up at the first count only (first touch, PyTorch's one-time setup)
                rows.extend(run_shape(name, causal, threads, repeat, use_torch,
                                      not args.no_reference, probes[threads], warmup=i == 0))
                save()  # partial results survive a time limit

    text = thread_table(rows, payload)
    print(text)
    if args.table:
        with open(args.table, "w") as f:
            f.write(text)
    if not args.json:
        print(json.dumps(payload, indent=2))
    return 0


def thread_table(rows: list[dict], payload: dict) -> str:
    """One markdown table: per shape and thread count, GFLOP/s of each method and the ratios."""
    has_torch = any(r["method"] == "torch-sdpa" for r in rows)
    by: dict = {}
    for r in rows:
        by.setdefault((r["shape"], r["causal"], r["threads"]), {})[r["method"]] = r
    head = ["shape", "threads", "attncalc GF/s", "x sgemm"]
    if has_torch:
        head += ["PyTorch GF/s", "attncalc / PyTorch"]
    head += ["sgemm GF/s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for (shape, causal, threads), cells in by.items():
        a = cells["attncalc"]
        line = [f"{shape} {'causal' if causal else 'full'}", str(threads), f"{a['gflops']:.0f}",
                f"{a['ratio_to_sgemm']:.2f}"]
        if has_torch:
            t = cells.get("torch-sdpa")
            line += ([f"{t['gflops']:.0f}", f"{t['median_s'] / a['median_s']:.2f}"] if t
                     else ["-", "-"])
        line.append(f"{a['sgemm_gflops']:.0f}")
        lines.append("| " + " | ".join(line) + " |")
    notes = []
    # scaling efficiency and slow-downs, per shape, from the smallest to the largest count
    for shape, causal in dict.fromkeys((s, c) for s, c, _ in by):
        ts = sorted(t for s, c, t in by if (s, c) == (shape, causal))
        if len(ts) < 2:
            continue
        g = {t: by[(shape, causal, t)]["attncalc"]["gflops"] for t in ts}
        eff = g[ts[-1]] / (g[ts[0]] * ts[-1] / ts[0])
        slower = [f"{a}->{b}" for a, b in zip(ts, ts[1:]) if g[b] < g[a]]
        notes.append(f"{shape} {'causal' if causal else 'full'}: scaling efficiency "
                     f"{ts[0]}->{ts[-1]} threads {eff:.2f}"
                     + (f"; slower at more threads: {', '.join(slower)}" if slower else ""))
    m = payload["machine"]
    caption = (f"{m['cpu']}, {m['cores']} cores; BLAS {payload['blas']}; numba "
               f"{m['numba']} ({payload['threading_layer']} layer), NumPy {m['numpy']}"
               + (f", PyTorch {m['torch']}" if "torch" in m else "") + "; float32, medians of "
               f"{rows[0]['rounds'] if rows else 0} rounds; causal counted as the useful triangle")
    return "\n".join([caption, ""] + lines + [""] + notes) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
