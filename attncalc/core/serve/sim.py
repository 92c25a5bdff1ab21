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

import heapq
import random
from collections import deque
from dataclasses import dataclass, field
from fractions import Fraction

from ...errors import WorkloadError
from .engines import EngineCapacity
from .specdec import draw, expected_tokens, speedup
from .steps import SCALE, StepCosts, _pairs
from .terms import cdiv
from .workload import Request, Workload

INF = float("inf")
FAST = True  # run decode-only stretches back to back (the same arithmetic; tests compare with False)


@dataclass(frozen=True)
class SimSetup:
    capacity: EngineCapacity  # the KV pool of one instance (blocks, layout)
    costs: StepCosts  # per-step time of one instance
    instances: int = 1  # data-parallel replicas (aggregated serving)
    max_num_seqs: int | None = None  # default: the engine's
    max_num_batched_tokens: int | None = None  # default: the engine's
    draft_tokens: int = 0  # γ: speculative decoding (0: off)
    acceptance: Fraction = Fraction(0)  # α
    draft_cost: Fraction = Fraction(0)  # c: one draft run's time / one target decode step's
    prefill_instances: int = 0  # disaggregation: P prefill + D decode instances (0: aggregated)
    decode_instances: int = 0
    kv_link_bytes_per_s: int | None = None
    kv_link_latency_ns: int = 0
    seed: int = 0
    policy: str = "mixed"  # mixed (vLLM V1, TensorRT-LLM) | prefill-first (SGLang's default scheduler)
    request_overhead_ns: int = 0  # a fixed latency per request before its first token (API server, tokenizer)


class Req:
    __slots__ = ("r", "ctx", "gen", "blocks", "first", "done", "admitted", "preempted", "target", "ready", "phase",
                 "cap")

    def __init__(self, r: Request):
        self.r = r
        self.ctx = 0  # tokens whose KV is in this instance's cache
        self.gen = 0  # output tokens produced
        self.blocks = 0
        self.first = None  # ns of the first token
        self.done = None
        self.admitted = 0
        self.preempted = 0
        self.target = r.prompt  # tokens to prefill (prompt, or prompt + output so far after a preemption)
        self.ready = r.arrival_ns
        self.phase = "waiting"  # waiting | prefilling | decoding | done
        self.cap = 0  # tokens its blocks hold (uniform pools; -1: ask the pool)


class Instance:
    """One engine instance (all its tensor-parallel ranks): its clock, queue, running requests, pool."""

    def __init__(self, idx: int, role: str, s: SimSetup, blocks_need, rng: random.Random):
        self.idx, self.role, self.s, self.need, self.rng = idx, role, s, blocks_need, rng
        self.per_block = getattr(blocks_need, "uniform", None)  # (groups, block size) when every group is full
        self.clock = 0
        self.incoming: list = []  # heap of (time, seq, Req)
        self.waiting: deque = deque()
        self.prefilling: list[Req] = []
        self.decoding: list[Req] = []
        self.free = s.capacity.kv_blocks
        self.total = s.capacity.kv_blocks
        self.mns = s.max_num_seqs or s.capacity.max_num_seqs
        self.budget = s.max_num_batched_tokens or s.capacity.max_num_batched_tokens
        self.windows = s.costs.windows
        self.series: list[tuple[int, int, int, int]] = []  # (ns, waiting, running, blocks used)
        self.binding: dict[str, int] = {}
        self.steps = 0
        self.busy_ns = 0
        self.preemptions = 0
        self._seq = 0

    def push(self, t: int, q: Req) -> None:
        self._seq += 1
        heapq.heappush(self.incoming, (t, self._seq, q))

    def next_time(self) -> float:
        if self.waiting or self.prefilling or self.decoding:
            return self.clock
        return max(self.clock, self.incoming[0][0]) if self.incoming else INF

    def absorb(self) -> None:
        while self.incoming and self.incoming[0][0] <= self.clock:
            self.waiting.append(heapq.heappop(self.incoming)[2])

    def _alloc(self, q: Req, tokens: int) -> bool:
        if tokens <= q.cap:
            return True
        extra = self.need(tokens) - q.blocks
        if extra > self.free:
            return False
        if extra > 0:
            self.free -= extra
            q.blocks += extra
        if self.per_block is not None:
            m, bs = self.per_block
            q.cap = q.blocks // m * bs
        return True

    def _release(self, q: Req) -> None:
        self.free += q.blocks
        q.blocks = 0
        q.cap = 0

    def _preempt_for(self, q: Req, tokens: int) -> bool:
        """Free the newest requests' blocks until ``q`` can grow to ``tokens`` (False: q itself must go)."""
        while not self._alloc(q, tokens):
            victims = self.prefilling + [d for d in self.decoding if d is not q]
            if not victims:
                return False
            v = max(victims, key=lambda d: d.admitted)
            if v.admitted < q.admitted:  # q is the newest: it is the one to go
                return False
            self._evict(v)
        return True

    def _evict(self, v: Req) -> None:
        (self.prefilling if v.phase == "prefilling" else self.decoding).remove(v)
        v.phase = "waiting"
        self._release(v)
        v.ctx = 0
        v.target = v.r.prompt + v.gen
        v.preempted += 1
        self.preemptions += 1
        self.waiting.appendleft(v)

    def _schedule_decode(self, per: int) -> list[Req]:
        batch: list[Req] = []
        for q in list(self.decoding):
            if q.phase != "decoding":
                continue  # preempted for an older one in this step
            if q.ctx + per > q.cap and not self._preempt_for(q, q.ctx + per):
                self._evict(q)
                continue
            batch.append(q)
        return batch

    def _schedule_prefill(self, budget: int) -> tuple[list[tuple[Req, int]], str]:
        """Prefill chunks: the requests already prefilling, then waiting ones in arrival order, while the
        token budget, max_num_seqs and the KV pool allow; and what stopped the admissions."""
        chunks: list[tuple[Req, int]] = []
        for q in list(self.prefilling):
            if budget <= 0:
                break
            n = min(q.target - q.ctx, budget)
            if not self._alloc(q, q.ctx + n):
                break
            chunks.append((q, n))
            budget -= n
        reason = ""
        while self.waiting:
            if budget <= 0:
                reason = "token budget (max_num_batched_tokens)"
                break
            if len(self.prefilling) + len(self.decoding) >= self.mns:
                reason = "max_num_seqs"
                break
            q = self.waiting[0]
            if self.role == "decode":  # arrives prefilled: needs its prompt's blocks and one more token
                if not self._alloc(q, q.ctx + 1):
                    reason = "KV cache blocks"
                    break
                self.waiting.popleft()
                q.admitted = self._seq = self._seq + 1
                q.phase = "decoding"
                self.decoding.append(q)
                continue
            start = q.r.cached if (q.preempted == 0 and q.gen == 0) else 0
            n = min(q.target - start, budget)
            if not self._alloc(q, start + n):
                reason = "KV cache blocks"
                break
            self.waiting.popleft()
            q.ctx = start
            q.admitted = self._seq = self._seq + 1
            q.phase = "prefilling"
            self.prefilling.append(q)
            chunks.append((q, n))
            budget -= n
        return chunks, reason

    def step(self, out_done: list, out_handoff: list, horizon: float = INF) -> None:
        """One step (or, when only decoding runs and nothing can change but the contexts, every step up
        to the next event: the next arrival ``horizon``, a request's last token, a full pool)."""
        s = self.s
        per = s.draft_tokens + 1
        budget = self.budget
        batch_dec: list[Req] = []
        if s.policy == "prefill-first":  # SGLang: a prefill batch when one can be formed, else a decode step
            chunks, reason = self._schedule_prefill(budget)
            if not chunks:
                batch_dec = self._schedule_decode(per)
        else:  # vLLM V1: every decoding request, then prefill chunks in the rest of the token budget
            batch_dec = self._schedule_decode(per)
            chunks, reason = self._schedule_prefill(budget - per * len(batch_dec))
        if reason:
            self.binding[reason] = self.binding.get(reason, 0) + 1
        if not chunks and not batch_dec:
            return
        if (FAST and not chunks and s.draft_tokens and len(batch_dec) == len(self.decoding) and self.windows == (None,)
                and (not self.waiting or reason in ("KV cache blocks", "max_num_seqs"))):
            steps = self.steps
            self._fast_speculative(batch_dec, out_done, horizon)
            if reason:
                self.binding[reason] += self.steps - steps - 1
            return
        if (FAST and not chunks and not s.draft_tokens and len(batch_dec) == len(self.decoding)
                and (not self.waiting or reason in ("KV cache blocks", "max_num_seqs"))):
            # nothing but the contexts can change until a request ends, a request arrives or the pool
            # runs dry: run those steps back to back
            steps = self.steps
            self._fast_decode(batch_dec, out_done, horizon)
            if reason:  # the reason held for every step run back to back
                self.binding[reason] += self.steps - steps - 1
            return
        # 3. the step's time
        tokens = sum(n for _, n in chunks) + per * len(batch_dec)
        sampled = len(chunks) + per * len(batch_dec)
        pairs, keys = [], []
        dec_ctx = sum(q.ctx for q in batch_dec)
        B = len(batch_dec)
        for w in self.windows:
            p = k = 0
            for q, n in chunks:
                p += _pairs(q.ctx, n, w)
                k += min(q.ctx + n, w) if w else q.ctx + n
            if w:
                for q in batch_dec:
                    p += _pairs(q.ctx, per, w)
                    k += min(q.ctx + per, w)
            else:  # Σ over the batch of (ctx + 1) + … + (ctx + per)
                p += per * dec_ctx + B * per * (per + 1) // 2
                k += dec_ctx + B * per
            pairs.append(p)
            keys.append(k)
        dt = s.costs.step_ns_int(tokens, sampled, pairs, keys)
        if s.draft_tokens and batch_dec:  # γ draft runs, each c × a one-token decode step of the batch
            one = s.costs.step_ns_int(len(batch_dec), len(batch_dec), [sum(min(q.ctx + 1, w) if w else q.ctx + 1
                                                                           for q in batch_dec) for w in self.windows],
                                      [sum(min(q.ctx + 1, w) if w else q.ctx + 1 for q in batch_dec)
                                       for w in self.windows])
            d = s.draft_tokens * s.draft_cost * one
            dt += -(-d.numerator // d.denominator)
        self.clock += dt
        self.busy_ns += dt
        self.steps += 1
        now = self.clock
        # 4. tokens at the step's end
        ended = False
        for q, n in chunks:
            q.ctx += n
            if q.ctx >= q.target:
                q.phase = "decoding"
                ended = True
                q.gen += 1
                if q.first is None:
                    q.first = now
                if q.gen >= q.r.output:
                    self._finish(q, now, out_done)
                elif self.role == "prefill":
                    self._release(q)
                    q.phase = "handoff"
                    out_handoff.append((now, q))
                else:
                    self.decoding.append(q)
        if ended:
            self.prefilling = [q for q in self.prefilling if q.phase == "prefilling"]
        gone = False
        for q in batch_dec:
            n = draw(self.rng, s.acceptance, s.draft_tokens) if s.draft_tokens else 1
            n = min(n, q.r.output - q.gen)
            q.gen += n
            q.ctx += n
            if q.gen >= q.r.output:
                gone = True
                self._finish(q, now, out_done)
        if gone:
            self.decoding = [q for q in self.decoding if q.phase == "decoding"]
        self.series.append((now, len(self.waiting), len(self.prefilling) + len(self.decoding), self.total - self.free))

    def _finish(self, q: Req, now: int, out_done: list) -> None:
        self._release(q)
        q.done = now
        q.phase = "done"
        out_done.append(q)

    def _fast_speculative(self, batch: list[Req], out_done: list, horizon: float) -> None:
        """Speculative decode-only steps with a fixed batch (full attention only), back to back: the same
        arithmetic as ``step`` (each request verifies γ + 1 tokens, keeps a capped geometric draw of
        them; the draft runs γ × c × a one-token step), without the scheduler between steps. Stops when
        a request ends, the next arrival comes, or a request needs a block the pool cannot give."""
        s = self.s
        costs = s.costs
        g = s.draft_tokens
        per = g + 1
        B = len(batch)
        (fa, kva), = costs._int[3]
        fixed = costs.matmul_int(per * B, per * B)
        qo = costs._int[4] * per * B
        fixed1 = costs.matmul_int(B, B)
        qo1 = costs._int[4] * B
        over = costs.overhead_ns
        c = Fraction(g) * s.draft_cost
        cn, cd = c.numerator, c.denominator
        S = sum(q.ctx for q in batch)
        now = self.clock
        busy = steps = 0
        waiting = len(self.waiting)
        rng = self.rng
        bits = rng.getrandbits
        num, den = s.acceptance.numerator << 53, s.acceptance.denominator  # the draw of specdec.draw, inlined
        ended = False
        while not ended:
            for q in batch:  # room for this step's γ + 1 tokens, as step's schedule reserves it
                if q.ctx + per > q.cap and not self._alloc(q, q.ctx + per):
                    ended = True
            if ended and steps:
                break
            pairs = per * S + B * per * (per + 1) // 2
            keys = S + B * per
            cc, mm = fa * pairs, kva * keys + qo
            dt = -(-(fixed + (cc if cc > mm else mm)) // SCALE) + over
            k1 = S + B
            cc, mm = fa * k1, kva * k1 + qo1
            one = -(-(fixed1 + (cc if cc > mm else mm)) // SCALE) + over
            dt += -(-(cn * one) // cd)
            now += dt
            busy += dt
            steps += 1
            for q in batch:
                n = 1
                while n <= g and bits(53) * den < num:
                    n += 1
                rest = q.r.output - q.gen
                if n >= rest:
                    n = rest
                    ended = True
                q.gen += n
                q.ctx += n
                S += n
            self.series.append((now, waiting, B, self.total - self.free))
            if now >= horizon:
                break
        self.clock = now
        self.busy_ns += busy
        self.steps += steps
        for q in batch:
            if q.gen >= q.r.output:
                self._finish(q, now, out_done)
        self.decoding = [q for q in self.decoding if q.phase == "decoding"]

    def _fast_decode(self, batch: list[Req], out_done: list, horizon: float) -> None:
        """Decode-only steps with a fixed batch, back to back: each step's cost from the batch's summed
        contexts (exactly as ``step`` would compute it), the requests' state applied once at the end.
        Runs k steps: until a request's last token, the next arrival, or a block the pool cannot give."""
        B = len(batch)
        k = min(q.r.output - q.gen for q in batch)
        # blocks: grow every request by j tokens for j = 1..k; stop before the pool runs dry
        base = sum(q.blocks for q in batch)
        lo, hi = 1, k
        if sum(self.need(q.ctx + k) for q in batch) - base > self.free:
            while lo < hi:  # the largest j whose growth fits (monotone in j)
                mid = (lo + hi + 1) // 2
                if sum(self.need(q.ctx + mid) for q in batch) - base <= self.free:
                    lo = mid
                else:
                    hi = mid - 1
            k = lo
        ctxs = [q.ctx for q in batch]
        total_ctx = sum(ctxs)
        per_window = []
        for w in self.windows:
            if w:
                caps = sorted(w - 1 - c for c in ctxs)  # step j caps request r once j >= w - 1 - ctx_r
                per_window.append((w, caps))
            else:
                per_window.append((None, None))
        now = self.clock
        steps = 0
        busy = 0
        costs = self.s.costs
        fixed = costs.matmul_int(B, B)
        att = costs._int[3]
        qo = costs._int[4] * B
        over = costs.overhead_ns
        waiting = len(self.waiting)
        for j in range(k):
            c = m = 0
            for (f, kv), (w, caps) in zip(att, per_window):
                if w is None:
                    p = total_ctx + B * (j + 1)
                else:
                    # requests with j >= w - 1 - ctx keep w keys; the others ctx + 1 + j
                    capped = _count_le(caps, j)
                    p = (capped * w + (total_ctx - _sum_ctx_capped(ctxs, w, j)) + (B - capped) * (j + 1)
                         if capped else total_ctx + B * (j + 1))
                c += f * p
                m += kv * p
            m += qo
            t = fixed + (c if c > m else m)
            dt = -(-t // SCALE) + over
            now += dt
            busy += dt
            steps += 1
            self.series.append((now, waiting, B, self.total - self.free))
            if now >= horizon:
                break
        self.clock = now
        self.busy_ns += busy
        self.steps += steps
        for q in batch:
            q.gen += steps
            q.ctx += steps
            self._alloc(q, q.ctx)
            if q.gen >= q.r.output:
                self._finish(q, now, out_done)
        self.decoding = [q for q in self.decoding if q.phase == "decoding"]


def _count_le(sorted_vals: list[int], x: int) -> int:
    import bisect

    return bisect.bisect_right(sorted_vals, x)


def _sum_ctx_capped(ctxs: list[int], w: int, j: int) -> int:
    """Σ ctx over the requests already capped at step j (j >= w - 1 - ctx)."""
    return sum(c for c in ctxs if j >= w - 1 - c)


def blocks_need(capacity: EngineCapacity, mnbt: int):
    """The blocks a request of n cached tokens holds, as the engine allocates them: one block per
    block_size tokens in every full-attention group; a sliding-window group at most its window plus a
    step's tokens (vLLM ``SlidingWindowSpec``), a Mamba group one block (its state)."""
    groups = capacity.groups
    specs = {sp.kind: sp for sp in capacity.specs}
    parts = []
    for g in groups:
        sp = specs.get(g.kinds[0]) if g.kinds else None
        if g.spec == "mamba":
            parts.append(("state", 0, 0))
        elif g.spec == "sliding" and sp is not None and sp.window:
            parts.append(("window", g.block_size, cdiv(sp.window - 1 + mnbt, g.block_size) + 1))
        else:
            parts.append(("full", g.block_size, 0))
    if all(p[0] == "full" for p in parts) and len({p[1] for p in parts}) == 1:
        bs, m = parts[0][1], len(parts)

        def uniform(n: int) -> int:
            return m * -(-n // bs)

        uniform.uniform = (m, bs)
        return uniform

    def need(n: int) -> int:
        total = 0
        for kind, bs, cap in parts:
            total += 1 if kind == "state" else (cdiv(n, bs) if kind == "full" else min(cdiv(n, bs), cap))
        return total

    return need


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
