"""The BMv2 reference corpus (../shared/p4-reference, copied to tests/fixtures/p4-reference):
finding it and turning a case file's setup into softswitch.api objects."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from softswitch.api import Exact, Lpm, MatchValue, Optional, Range, Replica, TableEntry, Ternary

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


def _int(v: str | int) -> int:
    return v if isinstance(v, int) else int(v, 16)


def _match(m: dict) -> MatchValue:
    ((kind, v),) = m.items()
    if kind == "exact":
        return Exact(_int(v))
    if kind == "optional":
        return Optional(_int(v))
    if kind == "lpm":
        return Lpm(_int(v[0]), int(v[1]))
    if kind == "ternary":
        return Ternary(_int(v[0]), _int(v[1]))
    if kind == "range":
        return Range(_int(v[0]), _int(v[1]))
    raise ValueError(f"unknown match kind {kind!r} in corpus setup")


@dataclass
class Setup:
    entries: list[TableEntry] = field(default_factory=list)
    defaults: list[tuple[str, str, dict[str, int]]] = field(default_factory=list)
    groups: dict[int, list[Replica]] = field(default_factory=dict)
    sessions: dict[int, list[Replica]] = field(default_factory=dict)


def parse_setup(items: list[dict]) -> Setup:
    s = Setup()
    for it in items:
        if "multicast_group" in it:
            s.groups[it["multicast_group"]] = [Replica(p, r) for p, r in it["replicas"]]
        elif "clone_session" in it:
            s.sessions[it["clone_session"]] = [Replica(p, r) for p, r in it["replicas"]]
        elif "default_action" in it:
            da = it["default_action"]
            params = {k: _int(v) for k, v in da.get("params", {}).items()}
            s.defaults.append((it["table"], da["action"], params))
        else:
            s.entries.append(
                TableEntry(
                    it["table"],
                    {k: _match(v) for k, v in it["match"].items()},
                    it["action"],
                    {k: _int(v) for k, v in it.get("params", {}).items()},
                    int(it.get("priority", 0)),
                )
            )
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
