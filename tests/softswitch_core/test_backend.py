"""The execution-backend interface (softswitch.backend): the Python core implements it with the
signatures the Protocols state, the P4Runtime device drives whatever backend it is given, the
entry types import nothing of softswitch, and bench/ uses testsupport/ rather than tests/
(tests/test_import_graph.py checks the cycles)."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest
from finsy.proto import p4r

from softswitch.backend import Backend, LoadedProgram, SwitchBackend
from softswitch.core.backend import PythonBackend
from softswitch.core.program import Program
from softswitch.core.switch import Switch
from softswitch.entries import SwitchError
from softswitch.server.device import Device
from testsupport import corpus

REPO = Path(__file__).resolve().parents[2]
VERIFY_AND_COMMIT = p4r.SetForwardingPipelineConfigRequest.VERIFY_AND_COMMIT


def _protocol_methods(proto: type) -> list[str]:
    return [
        name for name, value in vars(proto).items() if callable(value) and not name.startswith("_")
    ]


@pytest.mark.parametrize(
    ("proto", "impl"),
    [(SwitchBackend, Switch), (Backend, PythonBackend), (LoadedProgram, Program)],
)
def test_python_core_has_every_method_with_the_protocol_signature(proto, impl) -> None:
    methods = _protocol_methods(proto)
    assert methods, f"{proto.__name__} declares no methods"
    for name in methods:
        want = inspect.signature(getattr(proto, name))
        got = inspect.signature(getattr(impl, name))
        assert list(got.parameters) == list(want.parameters), f"{impl.__name__}.{name}"
        defaults = {k: p.default for k, p in want.parameters.items()}
        assert {k: p.default for k, p in got.parameters.items()} == defaults, name


def _l3_mcast_config() -> p4r.ForwardingPipelineConfig:
    d = corpus.corpus_dir()
    if d is None:
        pytest.skip(f"reference corpus not found in {[str(x) for x in corpus.CORPUS_DIRS]}")
    blob = Program.from_file(str(d / "ref_l3_mcast.p4")).device_config()
    return p4r.ForwardingPipelineConfig(p4_device_config=blob)


class RecordingBackend(PythonBackend):
    """The Python core, noting what the device asked of it."""

    name = "recording"

    def __init__(self) -> None:
        self.loaded: list[bytes] = []
        self.switches: list[Switch] = []

    def load(self, device_config: bytes) -> Program:
        self.loaded.append(device_config)
        return super().load(device_config)

    def new_switch(self, program: Program, cpu_port: int | None) -> Switch:
        sw = super().new_switch(program, cpu_port)
        self.switches.append(sw)
        return sw


def test_device_runs_frames_through_the_backend_it_is_given() -> None:
    config = _l3_mcast_config()
    backend = RecordingBackend()
    assert isinstance(backend, Backend)
    sent: list[tuple[int, bytes]] = []
    dev = Device(1, cpu_port=None, backend=backend)
    dev.send_many = sent.extend
    dev.set_pipeline(VERIFY_AND_COMMIT, config)
    assert backend.loaded == [config.p4_device_config]
    assert backend.switches == [dev.switch]
    assert isinstance(dev.switch, SwitchBackend)
    for e in corpus.L3_MCAST_ENTRIES:
        dev.switch.insert_entry(e)
    frame = corpus.l3_mcast_switch([2]).process(1, _routed_frame())
    assert [p for p, _ in frame] == [2]
    dev.process_batch(1, [_routed_frame()])
    assert sent == frame


def _routed_frame() -> bytes:
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether

    p = Ether(dst="02:00:00:00:01:01", src="02:00:00:00:00:09") / IP(dst="10.1.2.3", ttl=9)
    return bytes(p / UDP(sport=7, dport=4000) / b"payload")


class RefusingBackend(PythonBackend):
    name = "refusing"

    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    def load(self, device_config: bytes) -> Program:
        raise self.exc


def test_device_reports_a_backend_refusal_as_the_clients_error() -> None:
    config = _l3_mcast_config()
    dev = Device(1, cpu_port=None, backend=RefusingBackend(ValueError("no maps left")))
    with pytest.raises(SwitchError) as info:
        dev.set_pipeline(VERIFY_AND_COMMIT, config)
    assert info.value.code == "INVALID_ARGUMENT"
    assert "p4_device_config rejected: no maps left" in info.value.message
    own = SwitchError("RESOURCE_EXHAUSTED", "program needs 9 tables, the backend has 8")
    dev = Device(1, cpu_port=None, backend=RefusingBackend(own))
    with pytest.raises(SwitchError) as info:
        dev.set_pipeline(VERIFY_AND_COMMIT, config)
    assert info.value is own
    assert dev.switch is None


def _imports(path: Path) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            out |= {node.module, *(f"{node.module}.{a.name}" for a in node.names)}
    return out


def test_entry_types_import_nothing_of_softswitch() -> None:
    own = {m for m in _imports(REPO / "softswitch" / "entries.py") if m.startswith("softswitch")}
    assert own == set()


def test_bench_uses_test_support_not_the_tests() -> None:
    for path in (REPO / "bench").glob("*.py"):
        tests_imports = {m for m in _imports(path) if m == "tests" or m.startswith("tests.")}
        assert tests_imports == set(), path.name
