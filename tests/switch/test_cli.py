"""The `python -m softswitch` command line: simple_switch_grpc flags, the listening line,
clean exit on SIGTERM and SIGINT, clear errors for bad arguments."""

from __future__ import annotations

import signal
import subprocess

import pytest

from softswitch.cli import parse_args
from testsupport.harness import PYTHON, REPO, Testbed
from testsupport.signals import CAN_SIGNAL_A_THREAD, signal_another_thread


def test_parse_simple_switch_grpc_command_line() -> None:
    a = parse_args(
        [
            "prog.json",
            "-i",
            "1@veth1",
            "-i",
            "2@veth2",
            "--device-id",
            "3",
            "--log-level",
            "warn",
            "--",
            "--grpc-server-addr",
            "127.0.0.1:50051",
            "--cpu-port",
            "255",
        ]
    )
    assert a.program == "prog.json" and a.ports == [(1, "veth1"), (2, "veth2")]
    assert a.device_id == 3 and a.cpu_port == 255
    assert a.grpc_server_addr == "127.0.0.1:50051"
    assert parse_args(["--no-p4"]).grpc_server_addr == "127.0.0.1:9559"  # loopback default


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "give a program"),
        (["p.json", "--no-p4"], "not both"),
        (["--no-p4", "-i", "veth1"], "bad interface spec"),
        (["--no-p4", "--cpu-port", "600"], "outside 0..511"),
        (["--no-p4", "-i", "255@v", "--cpu-port", "255"], "also given as an interface"),
        (["--no-p4", "--grpc-server-addr", "nohost"], "expected HOST:PORT"),
    ],
)
def test_bad_arguments_exit_2_with_reason(argv, message, capsys) -> None:
    with pytest.raises(SystemExit) as info:
        parse_args(argv)
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def _start(*args: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [str(PYTHON), "-m", "softswitch", *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return proc, proc.stdout.readline()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_starts_prints_address_and_exits_cleanly(sig) -> None:
    proc, line = _start("--no-p4", "--grpc-server-addr", "127.0.0.1:0", "--device-id", "7")
    try:
        assert line.startswith("softswitch: listening on 127.0.0.1:"), line
        assert "device-id 7" in line
        proc.send_signal(sig)
        assert proc.wait(timeout=10) == 0
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.skipif(not CAN_SIGNAL_A_THREAD, reason="tgkill's number unknown on this machine")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_the_kernel_gives_another_thread_stops_the_switch_too(sig) -> None:
    """The kernel hands a process's signal to any thread that does not block it; the switch
    stops whichever thread got it (an untimed wait in the main thread once slept on)."""
    proc, line = _start("--no-p4", "--grpc-server-addr", "127.0.0.1:0")
    try:
        assert line.startswith("softswitch: listening on 127.0.0.1:"), line
        signal_another_thread(proc.pid, sig)
        assert proc.wait(timeout=10) == 0
    finally:
        proc.kill()
        proc.communicate()


def test_missing_interface_is_a_clear_error() -> None:
    proc = subprocess.run(
        [
            str(PYTHON),
            "-m",
            "softswitch",
            "--no-p4",
            "-i",
            "1@ssbnosuch0",
            "--grpc-server-addr",
            "127.0.0.1:0",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2
    assert "ssbnosuch0" in proc.stderr and "port 1" in proc.stderr


@pytest.mark.root
def test_switch_on_veths_without_pipeline_forwards_nothing(tmp_path) -> None:
    with Testbed(ports=[1, 2], start=False) as tb:
        proc, line = _start(
            "--no-p4",
            "-i",
            f"1@{tb.switch_iface(1)}",
            "-i",
            f"2@{tb.switch_iface(2)}",
            "--grpc-server-addr",
            "127.0.0.1:0",
            "--pcap",
            str(tmp_path),
        )
        try:
            assert "ports 1@" in line, line
            frame = bytes(range(64))
            tb.send(1, frame)
            tb.expect({})
            proc.terminate()
            assert proc.wait(timeout=10) == 0
        finally:
            proc.kill()
            proc.wait()
        data = (tmp_path / f"{tb.switch_iface(1)}_in.pcap").read_bytes()
        assert data[24 + 16 :].hex() == frame.hex()  # one pcap record holding the frame
        out = (tmp_path / f"{tb.switch_iface(2)}_out.pcap").read_bytes()
        assert out[24:].hex() == ""


@pytest.mark.root
def test_sigterm_with_connected_clients_exits_0(request) -> None:
    from testsupport.harness import need_target, target_of

    need_target(target_of(request.config))
    with Testbed(ports=[1]) as tb:
        c = tb.client(election_id=1)
        assert c.last_arbitration.status.code == 0
        tb.client(election_id=None)
        assert tb.stop_switch() == 0
