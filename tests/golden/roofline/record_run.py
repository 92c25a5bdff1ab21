"""Record `attncalc run` (the executed Numba attention block) on this machine beside the `this`
probe (sgemm and memory bandwidth, best of repeats; the best of three probes, one before
and two after, since the machine is shared), for tests/test_roofline.py:
the roofline of the executed block on these ceilings must stay below the measured time.

    .venv/bin/python tests/golden/roofline/record_run.py > tests/golden/roofline/attncalc-run-cpu.json
"""

import json
import platform
import subprocess
import sys
import time

PROBES = 3  # the machine is shared: a ceiling is the best of several probes, taken before and after the run
ARGS = ["gpt2-small", "--seq", "512", "--batch", "1", "--repeat", "5", "--format", "json"]

from attncalc.run.hwprobe import probe  # noqa: E402

probes = [probe()]
run = json.loads(subprocess.run([sys.executable, "-m", "attncalc", "run", *ARGS], check=True,
                                capture_output=True, text=True).stdout)
run["min_s"] = min(run["times_s"])
probes += [probe() for _ in range(PROBES - 1)]
this = dict(probes[0], memory_bytes_per_s=max(p["memory_bytes_per_s"] for p in probes),
            dense_flops_per_s={"fp32": max(p["dense_flops_per_s"]["fp32"] for p in probes)})
doc = {"script": "tests/golden/roofline/record_run.py", "command": "attncalc run " + " ".join(ARGS),
       "date_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()), "platform": platform.platform(),
       "run": run, "this": this, "probes": probes}
print(json.dumps(doc, indent=1))
