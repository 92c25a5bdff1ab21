"""One engine instance of the serving simulation: its requests, queue, KV pool and the step
scheduler (``core.serve.sim`` describes the algorithm and its references)."""

from __future__ import annotations

import heapq
import random
from collections import deque
from dataclasses import dataclass
from fractions import Fraction

from .engines import EngineCapacity
from .specdec import draw
from .steps import SCALE, StepCosts, _pairs
from .workload import Request
from .pool import _count_le, _sum_ctx_capped

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
