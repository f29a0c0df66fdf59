"""Reader for the BMv2 reference corpus (../shared/p4-reference, copied to
tests/fixtures/p4-reference): programs, their setup as API objects, and the recorded cases."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from softswitch.api import Exact, Lpm, MatchValue, Optional, Range, Replica, TableEntry, Ternary


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
