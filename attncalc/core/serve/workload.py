"""A serving workload: when requests arrive and how long their prompts and outputs are.

Every draw comes from one ``random.Random(seed)``, so the same seed gives the same requests (and the
simulation the same bytes). Arrivals:

- ``poisson``: exponential gaps of mean 1 / rate (``Random.expovariate``), at whole nanoseconds;
- ``burst``: every request at time 0 (a benchmark client's request rate "inf");
- ``closed``: ``max_concurrency`` clients, each sending its next request when its last one finishes
  (vLLM's and SGLang's benchmark clients with --max-concurrency and rate inf);
- ``trace``: the times, lengths (and prefix hits) of a file.

Lengths: ``N`` (fixed), ``uniform:LO:HI`` (integers, both ends included: sglang.bench_serving's random
dataset draws uniformly in [range_ratio × N, N]), or a list ``a,b,c`` cycled.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from ...errors import WorkloadError

NS = 10 ** 9


@dataclass(frozen=True)
class Lengths:
    kind: str  # fixed | uniform | cycle
    values: tuple[int, ...]

    def draw(self, rng: random.Random, i: int) -> int:
        if self.kind == "fixed":
            return self.values[0]
        if self.kind == "uniform":
            return rng.randint(self.values[0], self.values[1])
        return self.values[i % len(self.values)]

    @property
    def mean(self) -> Fraction:
        if self.kind == "uniform":
            return Fraction(self.values[0] + self.values[1], 2)
        return Fraction(sum(self.values), len(self.values))

    def text(self) -> str:
        if self.kind == "fixed":
            return str(self.values[0])
        if self.kind == "uniform":
            return f"uniform:{self.values[0]}:{self.values[1]}"
        return ",".join(map(str, self.values))


def parse_lengths(text: str | int, flag: str) -> Lengths:
    t = str(text).strip()
    try:
        if t.startswith("uniform:"):
            lo, hi = (int(x) for x in t.split(":")[1:3])
            if not 1 <= lo <= hi:
                raise ValueError
            return Lengths("uniform", (lo, hi))
        if "," in t:
            vals = tuple(int(x) for x in t.split(",") if x.strip())
            if not vals or min(vals) < 1:
                raise ValueError
            return Lengths("cycle", vals)
        v = int(t)
        if v < 1:
            raise ValueError
        return Lengths("fixed", (v,))
    except ValueError:
        raise WorkloadError(f"{flag}: expected N, uniform:LO:HI (1 <= LO <= HI) or a,b,c of integers >= 1, "
                            f"got {t!r}") from None


@dataclass(frozen=True)
class Request:
    id: int
    arrival_ns: int  # for closed-loop workloads: the order only (sent when a client is free)
    prompt: int
    output: int
    cached: int = 0  # prompt tokens found in the prefix cache


@dataclass(frozen=True)
class Workload:
    arrival: str = "poisson"  # poisson | burst | closed | trace
    rate: Fraction | None = None  # requests per second (poisson)
    requests: int = 1000
    prompt: Lengths = Lengths("fixed", (2048,))
    output: Lengths = Lengths("fixed", (256,))
    prefix_hit: Fraction = Fraction(0)  # share of each prompt found in the prefix cache
    max_concurrency: int | None = None  # closed loop
    seed: int = 0
    trace: tuple[Request, ...] = field(default=(), repr=False)

    def check(self) -> "Workload":
        if self.arrival not in ("poisson", "burst", "closed", "trace"):
            raise WorkloadError(f"arrival: unknown {self.arrival!r}; use poisson, burst, closed or trace")
        if self.arrival == "poisson" and (self.rate is None or self.rate <= 0):
            raise WorkloadError("--rate: a Poisson arrival needs a rate > 0 (requests per second)")
        if self.arrival == "closed" and (self.max_concurrency is None or self.max_concurrency < 1):
            raise WorkloadError("--max-concurrency: a closed-loop workload needs an integer >= 1")
        if self.arrival != "trace" and (isinstance(self.requests, bool) or self.requests < 1):
            raise WorkloadError(f"--requests must be an integer >= 1, got {self.requests!r}")
        if not 0 <= self.prefix_hit < 1:
            raise WorkloadError(f"--prefix-hit must be in [0, 1), got {self.prefix_hit}")
        return self

    def generate(self) -> list[Request]:
        """The requests, in arrival order (same seed, same requests)."""
        self.check()
        if self.arrival == "trace":
            return list(self.trace)
        rng = random.Random(self.seed)
        out, t = [], 0
        for i in range(self.requests):
            if self.arrival == "poisson":
                t += int(rng.expovariate(float(self.rate)) * NS)
            prompt = self.prompt.draw(rng, i)
            output = self.output.draw(rng, i)
            cached = int(self.prefix_hit * prompt)
            out.append(Request(i, t if self.arrival == "poisson" else 0, prompt, output, min(cached, prompt - 1)))
        return out

    def as_dict(self) -> dict:
        return {"arrival": self.arrival, "rate": None if self.rate is None else str(self.rate),
                "requests": self.requests if self.arrival != "trace" else len(self.trace),
                "prompt": self.prompt.text(), "output": self.output.text(), "prefix_hit": str(self.prefix_hit),
                "max_concurrency": self.max_concurrency, "seed": self.seed}


def read_trace(path: str) -> tuple[Request, ...]:
    """A trace file: JSON lines (or a JSON list) of {"arrival_s", "prompt", "output"[, "cached"]}."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as err:
        raise WorkloadError(f"{path}: cannot read the trace ({err.strerror})") from None
    try:
        rows = json.loads(text) if text.lstrip().startswith("[") else [json.loads(x) for x in text.splitlines() if x.strip()]
    except ValueError as err:
        raise WorkloadError(f"{path}: not JSON lines ({err})") from None
    out = []
    for i, r in enumerate(rows):
        try:
            t = int(Fraction(str(r["arrival_s"])) * NS)
            prompt, output = int(r["prompt"]), int(r["output"])
            cached = int(r.get("cached", 0))
        except (KeyError, TypeError, ValueError, ZeroDivisionError):
            raise WorkloadError(f"{path}: row {i + 1}: needs arrival_s, prompt, output (integers >= 1)") from None
        if prompt < 1 or output < 1 or t < 0 or not 0 <= cached < prompt:
            raise WorkloadError(f"{path}: row {i + 1}: needs arrival_s >= 0, prompt and output >= 1, 0 <= cached < prompt")
        out.append(Request(i, t, prompt, output, cached))
    out.sort(key=lambda r: (r.arrival_ns, r.id))
    return tuple(out)


WORKLOAD_KEYS = ("arrival", "rate", "requests", "prompt", "output", "prefix_hit", "max_concurrency", "seed", "trace")


def load_workload(path: str) -> Workload:
    """A workload file (TOML or JSON) with the keys of ``WORKLOAD_KEYS``; ``trace`` names a trace file
    (relative to the workload file)."""
    import tomllib

    p = Path(path)
    try:
        text = p.read_text()
    except OSError as err:
        raise WorkloadError(f"{path}: cannot read the workload ({err.strerror})") from None
    try:
        data = json.loads(text) if p.suffix == ".json" else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as err:
        raise WorkloadError(f"{path}: not {'JSON' if p.suffix == '.json' else 'TOML'} ({err})") from None
    unknown = sorted(set(data) - set(WORKLOAD_KEYS))
    if unknown:
        raise WorkloadError(f"{path}: unknown key(s) {', '.join(unknown)}; known: {', '.join(WORKLOAD_KEYS)}")
    w = Workload()
    kw = {}
    if "arrival" in data:
        kw["arrival"] = str(data["arrival"])
    if "rate" in data:
        try:
            kw["rate"] = Fraction(str(data["rate"]))
        except (ValueError, ZeroDivisionError):
            raise WorkloadError(f"{path}: rate: expected a number of requests per second") from None
        kw.setdefault("arrival", "poisson")
    for k in ("requests", "max_concurrency", "seed"):
        if k in data:
            if isinstance(data[k], bool) or not isinstance(data[k], int):
                raise WorkloadError(f"{path}: {k}: expected an integer")
            kw[k] = data[k]
    if "prompt" in data:
        kw["prompt"] = parse_lengths(data["prompt"], f"{path}: prompt")
    if "output" in data:
        kw["output"] = parse_lengths(data["output"], f"{path}: output")
    if "prefix_hit" in data:
        kw["prefix_hit"] = Fraction(str(data["prefix_hit"]))
    if "trace" in data:
        kw["trace"] = read_trace(str(p.parent / str(data["trace"])))
        kw["arrival"] = "trace"
    from dataclasses import replace

    return replace(w, **kw).check() if kw.get("arrival", w.arrival) != "poisson" or "rate" in kw else replace(w, **kw)
