"""Every case of the BMv2 reference corpus, run in-process through softswitch.

Per port, the list of frames must equal what BMv2 simple_switch emitted, byte for byte.
The stateful program runs its cases in order on one switch and checks its registers.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from softswitch.api import Program, Switch
from testsupport.corpus import CorpusProgram, apply_setup, load_corpus, outputs_by_port

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "p4-reference"
SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "p4-reference"
CORPUS = load_corpus(FIXTURES)
_programs: dict[str, Program] = {}
_stateful: dict[str, tuple[Switch, list[str]]] = {}


def _program(cp: CorpusProgram) -> Program:
    if cp.name not in _programs:
        _programs[cp.name] = Program.from_file(cp.p4)
    return _programs[cp.name]


def _switch(cp: CorpusProgram) -> Switch:
    sw = Switch(_program(cp), cpu_port=cp.cpu_port)
    apply_setup(sw, cp.setup)
    return sw


CASES = [
    pytest.param(cp, i, id=f"{cp.name}/{i:02d}-{c.name}")
    for cp in CORPUS
    for i, c in enumerate(cp.cases)
]


def test_corpus_is_present() -> None:
    assert {cp.name for cp in CORPUS} >= {"ref_l3_mcast", "ref_labels", "ref_clone_recirc"}
    assert sum(len(cp.cases) for cp in CORPUS) >= 73


@pytest.mark.parametrize(("cp", "index"), CASES)
def test_case(cp: CorpusProgram, index: int) -> None:
    case = cp.cases[index]
    if cp.stateful:
        # one switch for the whole file, fed the cases in file order; when a case runs alone
        # (pytest -k), the cases before it are replayed first
        sw, done = _stateful.get(cp.name, (None, []))
        if sw is None or done != [c.name for c in cp.cases[:index]]:
            sw, done = _switch(cp), []
            for c in cp.cases[:index]:
                sw.process(c.in_port, c.in_frame)
                done.append(c.name)
            _stateful[cp.name] = (sw, done)
        done.append(case.name)
    else:
        sw = _switch(cp)
    got = outputs_by_port(sw.process(case.in_port, case.in_frame))
    assert {p: [f.hex() for f in fs] for p, fs in got.items()} == {
        p: [f.hex() for f in fs] for p, fs in case.out.items()
    }, case.note
    for name, values in case.registers_after.items():
        assert [sw.register(name, i) for i in range(len(values))] == values


def _digest(d: Path) -> dict[str, str]:
    return {
        str(p.relative_to(d)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(d.rglob("*"))
        if p.is_file()
    }


@pytest.mark.skipif(not SHARED.is_dir(), reason=f"shared corpus {SHARED} not present")
def test_fixture_copy_is_current() -> None:
    """tests/fixtures/p4-reference must equal ../shared/p4-reference: run `make corpus`."""
    assert _digest(FIXTURES) == _digest(SHARED), "fixture corpus is stale: run `make corpus`"
