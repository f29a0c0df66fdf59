"""A round's failure schedule: the description's failures that apply to the round, as timed
events on the topology's links (a switch failure as all its links, a flap as its down and
up events). Times are seconds after the round's first data packet; the emulation applies
them to the network, the projection to its flow model."""

from __future__ import annotations

from dataclasses import dataclass

from experiments.spec import Experiment, LinkDown, LinkFlap, SpecError, SwitchDown, link_ends
from topologies.model import Topology


@dataclass(frozen=True)
class NetEvent:
    t: float
    kind: str  # link-down | link-up | switch-down | switch-up
    element: str
    pairs: tuple[tuple[str, str], ...]  # links (ends) that change
    mode: str = "carrier"  # how it fails (an up event: how it had): carrier | silent

    @property
    def up(self) -> bool:
        return self.kind.endswith("up")


def schedule(exp: Experiment, topo: Topology, round_index: int) -> list[NetEvent]:
    out: list[NetEvent] = []
    for i, f in enumerate(exp.failures):
        if f.round is not None and f.round != round_index:
            continue
        if isinstance(f, SwitchDown):
            pairs = tuple((lk.a, lk.b) for lk in topo.links if f.switch in (lk.a, lk.b))
            out.append(NetEvent(f.at, "switch-down", f.switch, pairs, f.mode))
            if f.duration is not None:
                out.append(NetEvent(f.at + f.duration, "switch-up", f.switch, pairs, f.mode))
            continue
        name = f.link if isinstance(f, LinkDown) else f.flap
        ends = link_ends(name, topo)
        if ends is None:
            raise SpecError(f"failures[{i}]: no link {name!r} in topology {topo.name!r}")
        label = f"{ends[0]}-{ends[1]}"
        if isinstance(f, LinkDown):
            out.append(NetEvent(f.at, "link-down", label, (ends,), f.mode))
            if f.duration is not None:
                out.append(NetEvent(f.at + f.duration, "link-up", label, (ends,), f.mode))
        elif isinstance(f, LinkFlap):
            for k in range(f.count):
                t0 = f.at + k * (f.down + f.up)
                out.append(NetEvent(t0, "link-down", label, (ends,), f.mode))
                out.append(NetEvent(t0 + f.down, "link-up", label, (ends,), f.mode))
    return sorted(out, key=lambda e: e.t)
