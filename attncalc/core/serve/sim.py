"""A deterministic, single-process, event-level simulation of continuous batching (issue 23 item 3).

Each engine instance runs steps back to back, as vLLM V1's and SGLang's schedulers do (Yu et al. 2022,
"Orca", iteration-level scheduling; Kwon et al. 2023, "vLLM", paged KV blocks; chunked prefill:
Agrawal et al. 2024, "Sarathi-Serve"). A step:

1. schedules every decoding request first (one token each, or γ + 1 to verify with speculative
   decoding), growing its KV blocks; when the pool is full, the newest request is preempted (its
   blocks freed, recomputed later, vLLM's RECOMPUTE policy);
2. fills the rest of the token budget (``max_num_batched_tokens``) with prefill chunks: first the
   requests already prefilling, then waiting ones in arrival order, while ``max_num_seqs`` and the KV
   pool allow;
3. takes the time core.serve.steps gives that batch (the time model's per-step cost), plus the draft
   model's γ runs at c × a decode step (Leviathan et al. 2023's cost coefficient);
4. at the step's end emits the tokens: a request whose last prefill chunk ran gets its first token
   (TTFT), each decoding request one token, or the accepted drafts + 1 (a capped geometric draw, exact).

Prefix caching: a request's cached share of its prompt is not recomputed (its blocks counted as held).
Disaggregated prefill/decode (Zhong et al. 2024, "DistServe"; Patel et al. 2024, "Splitwise"): prefill
instances emit the first token, then the prompt's KV cache moves to a decode instance over the stated
link (bytes per token on a rank / link bandwidth + latency). Data parallelism: independent instances,
requests dealt round robin. The KV pool is the engine's own (core.serve.engines: blocks and their
layout); the clock is integer nanoseconds; every random draw comes from one seeded ``random.Random``.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass
from fractions import Fraction

from ...errors import WorkloadError
from .specdec import expected_tokens, speedup
from .workload import Workload


from .pool import blocks_need
from .scheduler import INF, Instance, Req, SimSetup  # noqa: F401  (SimSetup, Req: re-exported)


@dataclass(frozen=True)
class Stats:
    mean: Fraction
    p50: int
    p90: int
    p99: int
    count: int


def stats(values: list[int]) -> Stats | None:
    """Mean and nearest-rank percentiles of integer samples (ns)."""
    if not values:
        return None
    v = sorted(values)
    n = len(v)

    def rank(p: int) -> int:
        return v[max(0, -(-p * n // 100) - 1)]

    return Stats(Fraction(sum(v), n), rank(50), rank(90), rank(99), n)


@dataclass(frozen=True)
class SimResult:
    setup: SimSetup
    workload: Workload
    requests: int
    completed: int
    makespan_ns: int
    input_tokens: int
    output_tokens: int
    ttft: Stats | None
    tpot: Stats | None
    e2e: Stats | None
    series: tuple[tuple[int, int, int, int], ...]  # (ns, waiting, running, blocks used), all instances summed
    kv_blocks: int  # per instance
    binding: dict[str, int]
    binding_limit: str
    preemptions: int
    steps: int
    busy_ns: int  # summed over instances
    spec_expected_tokens: Fraction | None
    spec_speedup: Fraction | None
    transfer: Stats | None
    gpus: int

    @property
    def throughput_requests(self) -> Fraction:
        return Fraction(self.completed * 10 ** 9, self.makespan_ns) if self.makespan_ns else Fraction(0)

    @property
    def throughput_output(self) -> Fraction:
        return Fraction(self.output_tokens * 10 ** 9, self.makespan_ns) if self.makespan_ns else Fraction(0)

    @property
    def throughput_total(self) -> Fraction:
        return Fraction((self.output_tokens + self.input_tokens) * 10 ** 9, self.makespan_ns) if self.makespan_ns else Fraction(0)


def simulate(s: SimSetup, w: Workload) -> SimResult:
    """Run the workload through the instances; same setup and seed, same result."""
    reqs = w.generate()
    if s.draft_tokens < 0 or not 0 <= s.acceptance <= 1 or s.draft_cost < 0:
        raise WorkloadError("--draft-tokens >= 0, --acceptance in [0, 1], --draft-cost >= 0")
    disagg = s.prefill_instances > 0 or s.decode_instances > 0
    if disagg and (s.prefill_instances < 1 or s.decode_instances < 1):
        raise WorkloadError("--disaggregate P:D needs at least one prefill and one decode instance")
    if disagg and not s.kv_link_bytes_per_s:
        raise WorkloadError("--disaggregate needs the KV transfer link: --kv-link-bytes-per-s")
    cap = s.capacity
    mnbt = s.max_num_batched_tokens or cap.max_num_batched_tokens
    need = blocks_need(cap, mnbt)
    longest = max((r.prompt + r.output for r in reqs), default=0)
    if need(longest) > cap.kv_blocks:
        raise WorkloadError(f"a request of {longest:,} tokens needs {need(longest):,} KV blocks; the engine has "
                            f"{cap.kv_blocks:,} (raise the memory or lower the lengths)")
    rng = random.Random(s.seed)
    if disagg:
        pre = [Instance(i, "prefill", s, need, rng) for i in range(s.prefill_instances)]
        dec = [Instance(len(pre) + i, "decode", s, need, rng) for i in range(s.decode_instances)]
        entry, every = pre, pre + dec
    else:
        entry = every = [Instance(i, "both", s, need, rng) for i in range(s.instances)]
    state = [Req(r) for r in reqs]
    closed = w.arrival == "closed"
    pending = deque(state)
    rr = [0, 0]
    done: list[Req] = []
    transfers: list[int] = []
    per_token = int(cap.physical_bytes_per_token) or 1

    def send(q: Req, t: int) -> None:
        """The client sends q at t; it reaches an instance request_overhead_ns later."""
        q.ready = t
        inst = entry[rr[0] % len(entry)]
        rr[0] += 1
        inst.push(t + s.request_overhead_ns, q)

    if closed:
        for _ in range(min(w.max_concurrency, len(pending))):
            send(pending.popleft(), 0)
    while True:
        t_arr = pending[0].r.arrival_ns if (pending and not closed) else INF  # the next client send
        inst = min(every, key=lambda x: (x.next_time(), x.idx))
        t_inst = inst.next_time()
        if t_arr <= t_inst and t_arr != INF:
            send(pending.popleft(), t_arr)
            continue
        if t_inst == INF:
            break
        inst.clock = max(inst.clock, int(t_inst))
        inst.absorb()
        finished: list[Req] = []
        handoff: list = []
        horizon = min(pending[0].r.arrival_ns if (pending and not closed) else INF,
                      *(x.incoming[0][0] for x in every if x.incoming and x is inst), INF)
        inst.step(finished, handoff, horizon)
        for t, q in handoff:
            moved = q.r.prompt * per_token
            xfer = -(-moved * 10 ** 9 // s.kv_link_bytes_per_s) + s.kv_link_latency_ns
            transfers.append(xfer)
            q.ctx = q.r.prompt + q.gen - 1
            target = dec[rr[1] % len(dec)]
            rr[1] += 1
            target.push(t + xfer, q)
        for q in finished:
            done.append(q)
            if closed and pending:
                send(pending.popleft(), q.done)
        if not finished and not handoff and not (inst.prefilling or inst.decoding) and inst.waiting:
            raise WorkloadError("the engine cannot admit a waiting request (KV pool too small for one chunk)")
    ttft = [q.first - q.ready for q in done]
    e2e = [q.done - q.ready for q in done]
    tpot = [(q.done - q.first) // (q.r.output - 1) for q in done if q.r.output > 1]
    end = max((q.done for q in done), default=0)
    start = min((q.ready for q in done), default=0)
    series = _merge(every)
    binding: dict[str, int] = {}
    for i in every:
        for k, v in i.binding.items():
            binding[k] = binding.get(k, 0) + v
    limit = max(binding, key=binding.get) if binding else "none: requests were admitted as they arrived"
    exp = spd = None
    if s.draft_tokens:
        exp = expected_tokens(s.acceptance, s.draft_tokens)
        spd = speedup(s.acceptance, s.draft_tokens, s.draft_cost)
    gpus = cap.setup.tp * cap.setup.pp * len(every)
    return SimResult(s, w, len(reqs), len(done), end - start, sum(q.r.prompt for q in done),
                     sum(q.r.output for q in done), stats(ttft), stats(tpot), stats(e2e),
                     tuple(series), cap.kv_blocks * len(every), binding, limit, sum(i.preemptions for i in every),
                     sum(i.steps for i in every), sum(i.busy_ns for i in every), exp, spd,
                     stats(transfers) if transfers else None, gpus)


def _merge(instances: list[Instance]) -> list[tuple[int, int, int, int]]:
    """Every instance's (time, waiting, running, blocks) samples as one series: at each sample time, the
    sum of each instance's latest state."""
    if len(instances) == 1:
        return instances[0].series
    events = sorted((t, i, wq, r, b) for i, inst in enumerate(instances) for (t, wq, r, b) in inst.series)
    last = [(0, 0, 0)] * len(instances)
    out = []
    for t, i, wq, r, b in events:
        last[i] = (wq, r, b)
        out.append((t, sum(x[0] for x in last), sum(x[1] for x in last), sum(x[2] for x in last)))
    return out
