#!/usr/bin/env bash
# The thread-scaling benchmark of the README, as run on a many-core machine (for example the
# 16-core device machine): every shape at 1, 2, 4, 8 and 16 threads against PyTorch, 3 rounds,
# results under ${OUT:-benchmarks/results}. About 3 minutes on 16 cores. Extra arguments go to
# benchmarks/attention.py (e.g. --shapes gpt2-small --threads 1 2 for a dry run).
#
#   PYTHONPATH=. bash benchmarks/threads_device.sh
set -uo pipefail
out=${OUT:-benchmarks/results}
mkdir -p "$out"
py=${PYTHON:-python3}
{ lscpu | grep -E "Model name|^CPU\(s\)|Thread|Core|Socket|NUMA node\(|L3|MHz" ; nproc;
  "$py" -c "import ctypes.util, numpy, sys; print('python', sys.version.split()[0], 'numpy', numpy.__version__, 'mkl_rt', ctypes.util.find_library('mkl_rt'))"; } \
  > "$out/threads-machine.txt" 2>&1
timeout "${LIMIT_S:-250}" "$py" benchmarks/attention.py --threads 1 2 4 8 16 --repeat 3 \
    --no-reference --json "$out/attention-threads.json" --table "$out/attention-threads.md" "$@" \
    2> "$out/attention-threads.stderr.txt"
rc=$?
# a time limit leaves the JSON of the finished shapes: render their table
[ -f "$out/attention-threads.md" ] || "$py" benchmarks/attention.py \
    --render "$out/attention-threads.json" > "$out/attention-threads.md"
exit $rc
