"""The BMv2 reference corpus (../shared/p4-reference, copied to tests/fixtures/p4-reference):
finding it and turning a case file's setup into softswitch.api objects."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from softswitch.api import Lpm, Program, Range, Replica, Switch, TableEntry, Ternary
from softswitch.corpus import CloneSession, DefaultAction, MulticastGroup, setup_item

REPO = Path(__file__).resolve().parents[2]
CORPUS_DIRS = [
    REPO / "tests" / "fixtures" / "p4-reference",
    REPO.parent / "shared" / "p4-reference",
]


def corpus_dir() -> Path | None:
    for d in CORPUS_DIRS:
        if any(d.glob("*.cases.json")):
            return d
    return None


def programs() -> list[str]:
    d = corpus_dir()
    return sorted(p.name.removesuffix(".cases.json") for p in d.glob("*.cases.json")) if d else []


@dataclass
class Setup:
    entries: list[TableEntry] = field(default_factory=list)
    defaults: list[tuple[str, str, dict[str, int]]] = field(default_factory=list)
    groups: dict[int, list[Replica]] = field(default_factory=dict)
    sessions: dict[int, list[Replica]] = field(default_factory=dict)


def parse_setup(items: list[dict]) -> Setup:
    """A case file's setup, grouped by the kind of P4Runtime entity that installs it."""
    s = Setup()
    for it in map(setup_item, items):
        if isinstance(it, MulticastGroup):
            s.groups[it.group] = it.replicas
        elif isinstance(it, CloneSession):
            s.sessions[it.session] = it.replicas
        elif isinstance(it, DefaultAction):
            s.defaults.append((it.table, it.action, it.params))
        else:
            s.entries.append(it)
    return s


def load(name: str) -> dict:
    d = corpus_dir()
    assert d is not None
    return json.loads((d / f"{name}.cases.json").read_text())


def config(target: str, name: str):
    """(p4c's P4Info from the corpus, device config for `target`) of corpus program `name`;
    skips with the reason when the corpus or the target's compiler is absent."""
    import pytest
    from finsy.proto import p4i
    from google.protobuf import text_format

    from tests.switch.harness import program_config

    d = corpus_dir()
    if d is None:
        pytest.skip(f"reference corpus not found in {[str(x) for x in CORPUS_DIRS]}")
    info = text_format.Parse((d / f"{name}.p4info.txtpb").read_text(), p4i.P4Info())
    _, blob = program_config(target, d / f"{name}.p4")
    return info, blob


# ref_l3_mcast set up for traffic: 10.1.2.0/24 and 239.1.1.0/24 routed to port 2, UDP to
# 239.1.0.0/16 with destination port 1000..2000 to multicast group 1 (the batch test and
# bench.softswitch_switch)
L3_MCAST_ENTRIES = [
    TableEntry(
        "L3Ingress.ipv4_lpm",
        {"hdr.ipv4.dst": Lpm(0x0A010200, 24)},
        "L3Ingress.route",
        {"port": 2, "dmac": 0x020000000202},
    ),
    TableEntry(
        "L3Ingress.ipv4_lpm",
        {"hdr.ipv4.dst": Lpm(0xEF010100, 24)},
        "L3Ingress.route",
        {"port": 2, "dmac": 0x020000000E0E},
    ),
    TableEntry(
        "L3Ingress.mcast_sel",
        {"hdr.ipv4.dst": Ternary(0xEF010000, 0xFFFF0000), "hdr.udp.dport": Range(1000, 2000)},
        "L3Ingress.set_mcast",
        {"grp": 1},
        10,
    ),
]


def l3_mcast_switch(group_ports: Iterable[int]) -> Switch:
    """An in-process ref_l3_mcast switch with L3_MCAST_ENTRIES, group 1 = `group_ports`."""
    sw = Switch(Program.from_file(str(corpus_dir() / "ref_l3_mcast.p4")))
    for e in L3_MCAST_ENTRIES:
        sw.insert_entry(e)
    sw.set_multicast_group(1, [Replica(p, 1) for p in group_ports])
    return sw
