"""Benchmark: the kernel's JIT compile, cold (empty cache) and from numba's cache, in fresh
processes. Cold: a temporary NUMBA_CACHE_DIR; the time is from before ``import numba`` to both
dtypes compiled (the attention block for float32 and float64, and the sgemm probe's panels),
so it is what a first ``attncalc run`` waits in total. Then the same in a second process,
which loads everything from that cache.

    python benchmarks/compile_time.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
CODE = """
import time
t0 = time.perf_counter()
import numpy as np
from attncalc.run import execute, kernels
a = execute.compile_kernel("float32")
b = execute.compile_kernel("float64")
x = np.ones((64, 64), np.float32)
kernels.gemm_panels(x, x, np.empty_like(x), 32, np.zeros(3, np.int64))
print(time.perf_counter() - t0, a[1] and b[1])
"""


def once(cache: str) -> tuple[float, bool]:
    env = dict(os.environ, NUMBA_CACHE_DIR=cache, PYTHONPATH=ROOT)
    out = subprocess.run([sys.executable, "-c", CODE], env=env, capture_output=True, text=True,
                         check=True, cwd=ROOT).stdout.split()
    return float(out[0]), out[1] == "True"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args(argv)
    cold, warm = [], []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as cache:
            s, cached = once(cache)
            assert not cached
            cold.append(s)
            s, cached = once(cache)
            assert cached
            warm.append(s)
    print(f"cold compile, both dtypes: median {statistics.median(cold):.2f} s "
          f"(runs {', '.join(f'{t:.2f}' for t in cold)})")
    print(f"from the cache, fresh process: median {statistics.median(warm):.2f} s "
          f"(runs {', '.join(f'{t:.2f}' for t in warm)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
