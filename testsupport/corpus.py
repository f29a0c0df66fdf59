"""The BMv2 reference corpus (../shared/p4-reference, copied to tests/fixtures/p4-reference by
`make corpus`): finding it, reading its case files into softswitch.api objects, installing a
setup on an in-process switch, the device config of a corpus program for a P4Runtime target,
and the ref_l3_mcast traffic setup the batch test and bench.softswitch_switch share."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from softswitch.api import (
    Exact,
    Lpm,
    MatchValue,
    Optional,
    Program,
    Range,
    Replica,
    Switch,
    TableEntry,
    Ternary,
)

REPO = Path(__file__).resolve().parents[1]
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
class DefaultAction:
    table: str
    action: str
    params: dict[str, int]


@dataclass
class MulticastGroup:
    group: int
    replicas: list[Replica]


@dataclass
class CloneSession:
    session: int
    replicas: list[Replica]


SetupItem = TableEntry | DefaultAction | MulticastGroup | CloneSession


@dataclass
class Case:
    name: str
    in_port: int
    in_frame: bytes
    out: dict[int, list[bytes]]  # port -> frames in the order they left it
    note: str = ""
    registers_after: dict[str, list[int]] = field(default_factory=dict)


@dataclass
class CorpusProgram:
    name: str  # e.g. ref_l3_mcast
    p4: Path
    p4info: Path
    cpu_port: int | None
    ports: list[int]
    stateful: bool
    setup: list[SetupItem]
    cases: list[Case]
    registers: list[dict[str, Any]] = field(default_factory=list)


def _int(v: str | int) -> int:
    return v if isinstance(v, int) else int(v, 16)


def _match(m: dict[str, Any]) -> MatchValue:
    ((kind, v),) = m.items()
    if kind == "exact":
        return Exact(_int(v))
    if kind == "lpm":
        return Lpm(_int(v[0]), int(v[1]))
    if kind == "ternary":
        return Ternary(_int(v[0]), _int(v[1]))
    if kind == "range":
        return Range(_int(v[0]), _int(v[1]))
    if kind == "optional":
        return Optional(_int(v))
    raise ValueError(f"unknown match kind {kind!r}")


def setup_item(s: dict[str, Any]) -> SetupItem:
    """One entry of a case file's `setup` as an API object."""
    params = {k: _int(v) for k, v in s.get("params", {}).items()}
    if "default_action" in s:
        return DefaultAction(s["table"], s["default_action"], params)
    if "table" in s:
        match = {k: _match(v) for k, v in s["match"].items()}
        return TableEntry(s["table"], match, s["action"], params, int(s.get("priority", 0)))
    if "multicast_group" in s:
        return MulticastGroup(s["multicast_group"], [Replica(p, r) for p, r in s["replicas"]])
    if "clone_session" in s:
        return CloneSession(s["clone_session"], [Replica(p, r) for p, r in s["replicas"]])
    raise ValueError(f"unknown setup item {s!r}")


def load_program(cases_json: Path) -> CorpusProgram:
    d = json.loads(cases_json.read_text())
    name = cases_json.name.removesuffix(".cases.json")
    cases = [
        Case(
            c["name"],
            int(c["in_port"]),
            bytes.fromhex(c["in_frame"]),
            {int(p): [bytes.fromhex(f) for f in fs] for p, fs in c["out"].items()},
            c.get("note", ""),
            c.get("registers_after", {}),
        )
        for c in d["cases"]
    ]
    return CorpusProgram(
        name,
        cases_json.parent / d["program"],
        cases_json.parent / f"{name}.p4info.txtpb",
        d.get("cpu_port"),
        list(d.get("ports", [])),
        bool(d.get("stateful")),
        [setup_item(s) for s in d["setup"]],
        cases,
        d.get("registers", []),
    )


def load_corpus(directory: str | Path) -> list[CorpusProgram]:
    return [load_program(p) for p in sorted(Path(directory).glob("*.cases.json"))]


def apply_setup(switch: Any, items: list[SetupItem]) -> None:
    """Install a corpus setup through the in-process Switch API."""
    for it in items:
        if isinstance(it, TableEntry):
            switch.insert_entry(it)
        elif isinstance(it, DefaultAction):
            switch.set_default_action(it.table, it.action, it.params)
        elif isinstance(it, MulticastGroup):
            switch.set_multicast_group(it.group, it.replicas)
        else:
            switch.set_clone_session(it.session, it.replicas)


def outputs_by_port(frames: list[tuple[int, bytes]]) -> dict[int, list[bytes]]:
    out: dict[int, list[bytes]] = {}
    for port, frame in frames:
        out.setdefault(port, []).append(frame)
    return out


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

    from testsupport.harness import program_config

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
