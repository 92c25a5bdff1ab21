#!/usr/bin/env bash
# The thread-scaling benchmark of the README, as run on a many-core machine (for example the
# 16-core device machine): every shape at 1, 2, 4, 8 and 16 threads against PyTorch, 3 rounds,
# results under ${OUT:-benchmarks/results}. About 3-4 minutes on 16 cores.
#
#   PYTHONPATH=. bash benchmarks/threads_device.sh
set -euo pipefail
out=${OUT:-benchmarks/results}
mkdir -p "$out"
py=${PYTHON:-python3}
{ "$py" -c "import ctypes.util, numpy, sys; print('python', sys.version.split()[0], 'numpy', numpy.__version__, 'mkl_rt', ctypes.util.find_library('mkl_rt'))"; nproc; } > "$out/threads-machine.txt" 2>&1 || true
"$py" benchmarks/attention.py --threads 1 2 4 8 16 --repeat 3 --no-reference \
    --json "$out/attention-threads.json" --table "$out/attention-threads.md" \
    2> "$out/attention-threads.stderr.txt"
