"""The BMv2 command lines of the packet-test harness (testsupport/harness.py), which the
packet tests run only where simple_switch_grpc and p4c-bm2-ss are installed (the vagrant/
VM): built here without running them."""

from __future__ import annotations

import queue
from pathlib import Path

import pytest

from softswitch import build_all
from testbed import port_agent as pa
from testsupport import harness as H


def test_p4c_command_is_the_one_make_p4_uses(tmp_path: Path) -> None:
    src = Path("/r/p4src/bier.p4")
    assert H.p4c_bmv2_command(src, tmp_path) == [
        "p4c-bm2-ss", "--arch", "v1model", "--std", "p4-16",
        "--p4runtime-files", f"{tmp_path}/p4info.txtpb",
        "-o", f"{tmp_path}/prog.json",
        "/r/p4src/bier.p4",
    ]  # fmt: skip
    out = build_all.Outputs(p4info=tmp_path / "p4info.txtpb", device_config=tmp_path / "prog.json")
    assert H.p4c_bmv2_command(src, tmp_path) == build_all.p4c_command(src, out, {})


def test_simple_switch_grpc_command() -> None:
    cmd = H.bmv2_command(
        None, {1: "ssbabcdes1", 2: "ssbabcdes2"}, 1, "127.0.0.1:40001", 40002,
        Path("/w/switch.log"), cpu_port=255,
    )  # fmt: skip
    assert cmd == [
        "simple_switch_grpc", "--no-p4", "-i", "1@ssbabcdes1", "-i", "2@ssbabcdes2",
        "--device-id", "1", "--thrift-port", "40002",
        "--log-file", "/w/switch.log", "--log-level", "info",
        "--", "--grpc-server-addr", "127.0.0.1:40001", "--cpu-port", "255",
    ]  # fmt: skip


def test_simple_switch_grpc_command_with_program_pcap_and_extra_args() -> None:
    cmd = H.bmv2_command(
        "/b/prog.json", {3: "t3"}, 7, "127.0.0.1:5", 6, Path("/w/l"),
        pcap_dir=Path("/w/pcap"), extra_args=["--max-port-count", "600"],
    )  # fmt: skip
    assert cmd == [
        "simple_switch_grpc", "/b/prog.json", "-i", "3@t3", "--device-id", "7",
        "--thrift-port", "6", "--log-file", "/w/l", "--log-level", "info",
        "--pcap=/w/pcap", "--max-port-count", "600",
        "--", "--grpc-server-addr", "127.0.0.1:5",
    ]  # fmt: skip


@pytest.mark.root
def test_port_agent_on_the_harness_ports() -> None:
    """The harness's BMv2 port agent follows carrier on its veths (no switch runs: the
    writes are recorded as the text simple_switch_CLI would read)."""

    class Recorder(pa.CliWriter):
        def __init__(self) -> None:
            super().__init__(0, "MyEgress.port_status")
            self.inputs: queue.Queue[str] = queue.Queue()

        def write(self, values: dict[int, int]) -> None:
            self.inputs.put(self.input_for(values))

    rec = Recorder()
    with H.Testbed("bmv2", ports=[1, 2], start=False) as tb:
        with pytest.raises(RuntimeError, match="no BMv2 switch running"):
            tb.port_agent("MyEgress.port_status")
        tb.port_agent("MyEgress.port_status", rec)
        tb.set_carrier(2, False)
        assert rec.inputs.get(timeout=10) == "register_write MyEgress.port_status 2 1\n"
        tb.set_carrier(2, True)
        assert rec.inputs.get(timeout=10) == "register_write MyEgress.port_status 2 0\n"
    assert rec.inputs.empty()
