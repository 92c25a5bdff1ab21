"""Collective communication time: a latency-bandwidth (alpha-beta) model per link tier, per algorithm
and protocol, with the algorithm the engine would pick (the fastest of those it runs).

Sizes follow nccl-tests (NVIDIA/nccl-tests doc/PERFORMANCE.md): ``nbytes`` is the all-reduce and
broadcast buffer, the all-gather OUTPUT and reduce-scatter INPUT (n chunks together), the data one rank
sends in an all-to-all, the message of a send/recv; the bus bandwidth is nbytes / time x 2(n-1)/n
(all-reduce), (n-1)/n (all-gather, reduce-scatter, all-to-all) or 1 (broadcast, send/recv).

Engine ``nccl``: NCCL's own cost model (src/graph/tuning.cc, ncclTopoTuneModel and
ncclTopoGetAlgoTime, NCCL 2.30.7), per algorithm a and protocol p:
    time = latency(a, p) + bytes on the busiest wire per GPU / bandwidth(a, p)
- latency: baseLat[a][p] + steps x hwLat[tier][a][p]; ring: 2(n-1) steps for an all-reduce, n-1 for
  all-gather / reduce-scatter, n for broadcast; tree all-reduce: 2((g-1) intra hops + log2(nodes) net
  hops); NVLS: one NVLink hop of the switch (25 us), plus a net hop across nodes;
- bandwidth: the tier's line rate per direction x a fitted efficiency (the ``[fitted]`` table of the
  hardware file; 1 where none is fitted), then the protocol: LL moves 4 data bytes in every 8 (x 1/2,
  at most llMaxBw, 141 GB/s on one Hopper node), LL128 120 of 128 (tuning.cc's x 0.92), Simple x 1;
- bytes on the wire per GPU: ring all-reduce 2(n-1)/n S (Patarasuk & Yuan 2009); ring all-gather and
  reduce-scatter (n-1)/n S; tree all-reduce 2S (a chain inside the node: S up, S down); NVLS
  all-reduce (n+1)/n S (multimem.ld_reduce of its 1/n share from every GPU, multimem.st of the
  result to all: S + S/n each way) at NCCL's nvlsEfficiency (0.85 Hopper, 0.74 Blackwell);
  all-to-all (n-1)/n S as grouped send/recv, LL up to NCCL_P2P_LL_THRESHOLD = 16 KiB per peer,
  Simple above (NCCL environment-variable documentation);
- across nodes (g GPUs per node, N nodes): every algorithm is limited by the NICs' share per GPU
  (nics x bytes/s / g) on its network steps; ``hierarchical`` = reduce-scatter inside the node, an
  all-reduce of the 1/g shard across nodes, all-gather inside the node (the two-level scheme of
  NCCL's NVLSTree / CollNet chains and Horovod's hierarchical all-reduce).
Engine ``custom``: the one-shot / two-shot all-reduce of vLLM (csrc/custom_all_reduce.cuh) and
TensorRT-LLM for small messages inside an NVLink node: one-shot reads the n-1 peers' buffers (n-1) S
after one barrier; two-shot reduce-scatters then all-gathers, 2(n-1)/n S, two barriers; vLLM's rule
picks one-shot for n = 2, n <= 4 below 512 KiB, n <= 8 below 256 KiB, two-shot otherwise, and NCCL
above 8 MiB (its max_size). The latency of one barrier-and-kernel step is the tier's fitted latency.

Exact rationals throughout (Fraction seconds); NCCL's constants are its decimals read exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from ...errors import WorkloadError
from ...spec.hardware import Hardware, Link
from ..workload import positive

OPS = ("all_reduce", "all_gather", "reduce_scatter", "all_to_all", "send_recv", "broadcast")
ENGINES = ("nccl", "custom")
PROTOCOLS = ("LL", "LL128", "Simple")
US = Fraction(1, 10**6)
GB = 10**9


def _us(*xs: str) -> tuple[Fraction, ...]:
    return tuple(Fraction(x) * US for x in xs)


# NCCL 2.30.7 src/graph/tuning.cc, ncclTunerConstantsDefaults (microseconds; LL, LL128, Simple)
BASE_LAT = {"tree": _us("6.8", "14.0", "8.4"), "ring": _us("6.6", "14.0", "8.4")}
HW_LAT = {  # per hop, by hardware class of the link
    "NVLINK": {"tree": _us("0.6", "1.25", "4.0"), "ring": _us("0.6", "1.9", "3.4"), "nvls": _us("0", "0", "25")},
    "PCI": {"tree": _us("1.0", "1.9", "4.0"), "ring": _us("1.0", "2.5", "5.7"), "nvls": _us("0", "0", "0")},
    "NET": {"tree": _us("5.0", "8.5", "14"), "ring": _us("2.7", "4.0", "14.0"), "nvls": _us("0", "0", "18")},
}
# llMaxBws (GB/s busBw): one node by GPU generation; across nodes the Intel-CPU row (N2, N4+)
LL_MAX_ONE_NODE = {"volta": Fraction("39.0"), "ampere": Fraction("87.7"), "hopper": Fraction("141.0"),
                   "blackwell": Fraction("282.0")}
LL_MAX_NODES = (Fraction("39.0"), Fraction("20.4"))
NVLS_EFFICIENCY = {"hopper": Fraction("0.85"), "blackwell": Fraction("0.74")}  # nvlsEfficiency
LL128_FACTOR = Fraction("0.92")  # tuning.cc: busBw * (0.92 /*120.0/128.0*/)
P2P_LL_THRESHOLD = 16384  # NCCL_P2P_LL_THRESHOLD default, bytes per peer
CUSTOM_MAX_BYTES = 8 * 2**20  # vLLM CustomAllreduce max_size


@dataclass(frozen=True)
class Tier:
    """One link tier as the model reads it: per-direction bandwidth per GPU after the fitted
    efficiency, NCCL's hardware class for its latencies, and the fitted latency (custom engine)."""

    name: str  # intra_node | inter_node
    link: Link
    hw_class: str  # NVLINK | PCI | NET
    bytes_per_s: Fraction  # per GPU per direction, efficiency applied (across nodes: its share of the NICs)
    per_node: Fraction  # across nodes: all the node's NICs together, efficiency applied (a ring's limit)
    efficiency: Fraction
    latency: Fraction | None  # fitted, seconds
    fitted: bool


def tiers(hw: Hardware, gpus_per_node: int) -> tuple[Tier | None, Tier | None]:
    """The intra-node and inter-node tiers of a hardware file (None where the file states none)."""
    f = hw.fitted
    intra = hw.intra()
    a = b = None
    if intra is not None:
        eff = (f and f.get("intra_node_efficiency")) or Fraction(1)
        lat = f and f.get("intra_node_latency_ns")
        cls = "NVLINK" if intra.kind in ("nvlink", "infinity-fabric") or "nvlink" in intra.kind.lower() else "PCI"
        a = Tier("intra_node", intra, cls, intra.bytes_per_s * eff, intra.bytes_per_s * eff, eff,
                 lat * Fraction(1, 10**9) if lat else None,
                 bool(f and f.get("intra_node_efficiency")))
    if hw.inter_node is not None:
        nic = hw.inter_node
        eff = (f and f.get("inter_node_efficiency")) or Fraction(1)
        lat = f and f.get("inter_node_latency_ns")
        # each GPU's share of its node's NICs (the physical node: the file's GPUs per node)
        node = nic.bytes_per_s * nic.count * eff
        b = Tier("inter_node", nic, "NET", node / (hw.gpus_per_node or gpus_per_node), node, eff,
                 lat * Fraction(1, 10**9) if lat else None,
                 bool(f and f.get("inter_node_efficiency")))
    return a, b


@dataclass(frozen=True)
class Candidate:
    algorithm: str
    protocol: str
    latency: Fraction
    wire_bytes: Fraction  # per GPU, one direction, on the tier that limits it
    time: Fraction


@dataclass(frozen=True)
class CollectiveTime:
    op: str
    nbytes: int
    gpus: int
    gpus_per_node: int
    engine: str
    algorithm: str  # the chosen one
    protocol: str
    time: Fraction  # seconds
    latency: Fraction
    bytes_per_gpu: Fraction  # on the wire, one direction, per GPU
    candidates: tuple[Candidate, ...]
    notes: tuple[str, ...] = ()

    @property
    def bus_bandwidth(self) -> Fraction:
        """nccl-tests' busbw in bytes/s: nbytes / time x the op's factor."""
        return Fraction(self.nbytes) * bus_factor(self.op, self.gpus) / self.time if self.time else Fraction(0)

    @property
    def alg_bandwidth(self) -> Fraction:
        return Fraction(self.nbytes) / self.time if self.time else Fraction(0)


def bus_factor(op: str, n: int) -> Fraction:
    """nccl-tests PERFORMANCE.md: busbw = algbw x this factor."""
    if op == "all_reduce":
        return Fraction(2 * (n - 1), n)
    if op in ("all_gather", "reduce_scatter", "all_to_all"):
        return Fraction(n - 1, n)
    return Fraction(1)


def _log2_ceil(x: int) -> int:
    return (x - 1).bit_length()


def _protocol_bw(bus: Fraction, p: int, ll_max: Fraction) -> Fraction:
    if p == 0:
        return min(bus / 2, ll_max)
    return bus * LL128_FACTOR if p == 1 else bus


def collective(op: str, nbytes: int, gpus: int, hw: Hardware, *, gpus_per_node: int | None = None,
               engine: str = "nccl", algorithms: tuple[str, ...] | None = None) -> CollectiveTime:
    """Time of one collective of ``nbytes`` over ``gpus`` GPUs (``gpus_per_node`` in each node, by
    default the hardware's, or all of them when the file states none)."""
    if op not in OPS:
        raise WorkloadError(f"unknown collective {op!r}; use one of {', '.join(OPS)}")
    if engine not in ENGINES:
        raise WorkloadError(f"unknown communication engine {engine!r}; use one of {', '.join(ENGINES)}")
    positive("message bytes", nbytes, 0), positive("GPUs", gpus)
    g = gpus_per_node if gpus_per_node is not None else (min(hw.gpus_per_node, gpus) if hw.gpus_per_node else gpus)
    positive("GPUs per node", g)
    if gpus % g:
        raise WorkloadError(f"{gpus} GPUs do not fill nodes of {g}")
    nodes = gpus // g
    if op == "send_recv" and gpus != 2:
        raise WorkloadError("send/recv is between 2 GPUs")
    intra, inter = tiers(hw, g)
    if g > 1 and intra is None:
        raise WorkloadError(f"{hw.name}: no link between GPUs ([intra_node] or interconnect_bytes_per_s)")
    if nodes > 1 and inter is None:
        raise WorkloadError(f"{hw.name}: {nodes} nodes but no [inter_node] network in the hardware file")
    if gpus == 1:
        return CollectiveTime(op, nbytes, 1, 1, engine, "none", "-", Fraction(0), Fraction(0), Fraction(0), ())
    if engine == "custom":
        if op != "all_reduce" or nodes > 1 or intra is None or intra.hw_class != "NVLINK":
            raise WorkloadError("the custom all-reduce engine runs all-reduces inside one NVLink node")
        if nbytes <= CUSTOM_MAX_BYTES:
            return _custom(nbytes, gpus, intra)
    cands = _nccl(op, Fraction(nbytes), gpus, g, nodes, intra, inter, hw.generation)
    if algorithms:
        cands = [c for c in cands if c.algorithm in algorithms]
        if not cands:
            raise WorkloadError(f"none of {', '.join(algorithms)} runs a {op} here")
    best = min(cands, key=lambda c: (c.time, c.algorithm, c.protocol))
    notes = () if engine == "nccl" else (f"custom engine: above {CUSTOM_MAX_BYTES:,} bytes, NCCL",)
    notes += tuple(f"{t.name}: no fitted efficiency, the line rate" for t in (intra, inter)
                   if t is not None and not t.fitted and (t is intra or nodes > 1))
    return CollectiveTime(op, nbytes, gpus, g, engine, best.algorithm, best.protocol, best.time, best.latency,
                          best.wire_bytes, tuple(cands), notes)


def _nccl(op: str, s: Fraction, n: int, g: int, nodes: int, intra: Tier | None, inter: Tier | None,
          generation: str) -> list[Candidate]:
    """NCCL's algorithms and protocols for this op and layout, each timed (module docstring)."""
    # A ring's bus bandwidth: inside one node the NVLink/PCIe link per GPU; across nodes also all the
    # node's NICs (k rings cross each node boundary on k NICs: 2(n-1)/n S per NIC set, NCCL's bwInter)
    if nodes == 1:
        bus = intra.bytes_per_s
    else:
        bus = min(intra.bytes_per_s, inter.per_node) if intra else inter.bytes_per_s
    ll_max = (LL_MAX_ONE_NODE.get(generation, LL_MAX_ONE_NODE["hopper"]) if nodes == 1
              else LL_MAX_NODES[0 if nodes <= 2 else 1]) * GB
    lat_intra = HW_LAT[intra.hw_class] if intra else HW_LAT["NET"]
    out = []

    def add(algo: str, p: int, latency: Fraction, wire: Fraction, bw: Fraction) -> None:
        out.append(Candidate(algo, PROTOCOLS[p], latency, wire, latency + wire / bw))

    def ring_latency(p: int, steps: int, net_steps: int) -> Fraction:
        return BASE_LAT["ring"][p] + (steps - net_steps) * lat_intra["ring"][p] + net_steps * HW_LAT["NET"]["ring"][p]

    if op in ("all_reduce", "all_gather", "reduce_scatter", "broadcast"):
        steps = {"all_reduce": 2 * (n - 1), "broadcast": n}.get(op, n - 1)
        net = 0 if nodes == 1 else {"all_reduce": 2 * (nodes - 1)}.get(op, nodes - 1)
        wire = {"all_reduce": Fraction(2 * (n - 1), n) * s, "broadcast": s}.get(op, Fraction(n - 1, n) * s)
        for p in range(3):
            add("ring", p, ring_latency(p, steps, net), wire, _protocol_bw(bus, p, ll_max))
    if op == "all_reduce":
        # tree: a chain inside each node, double binary trees across nodes (tuning.cc: 0.92 of the
        # bus bandwidth, LL / 3.8, LL128 x 7/9 on one node, 120/128 across)
        tl = BASE_LAT["tree"]
        for p in range(3):
            lat = tl[p] + 2 * ((g - 1) * lat_intra["tree"][p] + _log2_ceil(nodes) * HW_LAT["NET"]["tree"][p])
            bw = bus * Fraction("0.92")
            bw = min(bw / Fraction("3.8"), ll_max) if p == 0 else bw * (Fraction(7, 9) if nodes == 1 else Fraction(120, 128)) if p == 1 else bw
            add("tree", p, lat, 2 * s, bw)
        eff = NVLS_EFFICIENCY.get(generation)
        if intra is not None and intra.link.nvls and eff and g > 1:
            if nodes == 1:
                add("nvls", 2, HW_LAT["NVLINK"]["nvls"][2], Fraction(g + 1, g) * s, intra.bytes_per_s * eff)
            else:  # NVLS inside the node, the 1/g shard across nodes (NVLSTree's traffic)
                shard = s / g
                t_in = Fraction(g + 1, g) * s / (intra.bytes_per_s * eff)
                t_net = Fraction(2 * (nodes - 1), nodes) * shard / inter.bytes_per_s
                lat = HW_LAT["NVLINK"]["nvls"][2] + 2 * _log2_ceil(nodes) * HW_LAT["NET"]["nvls"][2]
                out.append(Candidate("nvls-tree", "Simple", lat, Fraction(g + 1, g) * s, lat + t_in + t_net))
        if nodes > 1 and intra is not None:
            out.append(_hierarchical(s, g, nodes, intra, inter, lat_intra))
    if op in ("all_to_all", "send_recv"):
        per_peer = s / n if op == "all_to_all" else s
        p = 0 if per_peer <= P2P_LL_THRESHOLD else 2
        wire = Fraction(n - 1, n) * s if op == "all_to_all" else s
        hop = HW_LAT["NET"]["ring"][p] if nodes > 1 else lat_intra["ring"][p]
        if nodes > 1:  # what leaves the node goes over the NICs' share: (n - g)/n of an all-to-all
            wire_net = Fraction(n - g, n) * s if op == "all_to_all" else s
            t = max(Fraction(g - 1, n) * s / _protocol_bw(intra.bytes_per_s, p, ll_max) if intra else Fraction(0),
                    wire_net / _protocol_bw(inter.bytes_per_s, p, ll_max))
            lat = BASE_LAT["ring"][p] + hop
            out.append(Candidate("p2p", PROTOCOLS[p], lat, wire_net, lat + t))
        else:
            add("p2p", p, BASE_LAT["ring"][p] + hop, wire, _protocol_bw(bus, p, ll_max))
    return out


def _hierarchical(s: Fraction, g: int, nodes: int, intra: Tier, inter: Tier, lat_intra: dict) -> Candidate:
    """Reduce-scatter in the node (ring, Simple), all-reduce of the 1/g shard across the nodes over
    each GPU's share of the NICs (ring), all-gather in the node."""
    p = 2
    inside = Fraction(g - 1, g) * s / intra.bytes_per_s
    net = Fraction(2 * (nodes - 1), nodes) * (s / g) / inter.bytes_per_s
    lat = (2 * (BASE_LAT["ring"][p] + (g - 1) * lat_intra["ring"][p])
           + BASE_LAT["ring"][p] + 2 * (nodes - 1) * HW_LAT["NET"]["ring"][p])
    return Candidate("hierarchical", "Simple", lat, Fraction(2 * (g - 1), g) * s, lat + 2 * inside + net)


def _custom(nbytes: int, n: int, intra: Tier) -> CollectiveTime:
    if intra.latency is None:
        raise WorkloadError("the custom all-reduce engine needs the tier's fitted latency "
                            "([fitted] intra_node_latency_ns in the hardware file)")
    s, bw, lat = Fraction(nbytes), intra.bytes_per_s, intra.latency
    one = Candidate("one-shot", "-", lat, (n - 1) * s, lat + (n - 1) * s / bw)
    two = Candidate("two-shot", "-", 2 * lat, Fraction(2 * (n - 1), n) * s, 2 * lat + Fraction(2 * (n - 1), n) * s / bw)
    # vLLM csrc/custom_all_reduce.cuh: 1-stage for n = 2, n <= 4 below 512 KiB, n <= 8 below 256 KiB
    pick = one if n == 2 or (n <= 4 and nbytes < 512 * 1024) or (n <= 8 and nbytes < 256 * 1024) else two
    return CollectiveTime("all_reduce", nbytes, n, n, "custom", pick.algorithm, "-", pick.time, pick.latency,
                          pick.wire_bytes, (one, two), ("vLLM's rule picks the algorithm, not the fastest",))


def all_reduce(nbytes: int, gpus: int, hw: Hardware, **kw) -> CollectiveTime:
    return collective("all_reduce", nbytes, gpus, hw, **kw)


def all_gather(nbytes: int, gpus: int, hw: Hardware, **kw) -> CollectiveTime:
    return collective("all_gather", nbytes, gpus, hw, **kw)


def reduce_scatter(nbytes: int, gpus: int, hw: Hardware, **kw) -> CollectiveTime:
    return collective("reduce_scatter", nbytes, gpus, hw, **kw)


def all_to_all(nbytes: int, gpus: int, hw: Hardware, **kw) -> CollectiveTime:
    return collective("all_to_all", nbytes, gpus, hw, **kw)


def send_recv(nbytes: int, hw: Hardware, *, across_nodes: bool = False) -> CollectiveTime:
    """One message between two GPUs: in one node, or across two (pipeline-parallel sends)."""
    return collective("send_recv", nbytes, 2, hw, gpus_per_node=1 if across_nodes else 2)


def broadcast(nbytes: int, gpus: int, hw: Hardware, **kw) -> CollectiveTime:
    return collective("broadcast", nbytes, gpus, hw, **kw)
