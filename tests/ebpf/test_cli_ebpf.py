"""`python -m softswitch --backend`: which backend runs, the reason when it is not eBPF, and
nothing of the eBPF backend left behind once the process is gone, even after SIGKILL."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from testsupport.harness import PYTHON, Testbed

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.ebpf, pytest.mark.slow]


def start(tb: Testbed, *args: str) -> tuple[subprocess.Popen, str]:
    cmd = [str(PYTHON), "-m", "softswitch", str(REPO / "p4src" / "bier.p4"),
           "-i", f"1@{tb.switch_iface(1)}", "-i", f"2@{tb.switch_iface(2)}",
           "--cpu-port", "255", "--grpc-server-addr", "127.0.0.1:0", *args]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []
    while True:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "listening on" in line:
            break
    return proc, "".join(lines)


def links() -> str:
    return subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout


def filters(iface: str) -> str:
    r = subprocess.run(["tc", "filter", "show", "dev", iface, "ingress"], capture_output=True,
                       text=True)  # fmt: skip
    return r.stdout


def test_ebpf_backend_attaches_and_leaves_nothing_after_sigkill() -> None:
    def cpu_ports() -> set[str]:
        return {w.strip(":").split("@")[0] for w in links().split() if w.startswith("sscpu")}

    with Testbed(ports=[1, 2], cpu_port=None, start=False) as tb:
        others = cpu_ports()  # other switches on this machine have theirs
        proc, out = start(tb, "--backend", "ebpf")
        try:
            assert "backend ebpf (kernel " in out, out
            assert "ss_ingress" in filters(tb.switch_iface(1))
            cpu = sorted(cpu_ports() - others)
            assert len(cpu) == 1
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        deadline = time.monotonic() + 5
        while cpu[0] in links() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert cpu[0] not in links()  # the CPU port's veth went with the process


def test_auto_says_why_it_runs_python_and_ebpf_refuses_with_status_2(tmp_path: Path) -> None:
    with Testbed(ports=[1, 2], cpu_port=None, start=False) as tb:
        proc, out = start(tb, "--backend", "auto", "--pcap", str(tmp_path))
        try:
            assert "backend auto: python (--pcap needs the Python backend" in out, out
            assert "backend python" in out
        finally:
            proc.terminate()
            try:  # drain both pipes while it stops: a switch blocked writing to one never ends
                proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()  # a switch that ignored SIGTERM fails the test, and leaves nothing
                proc.communicate()
                raise
        proc, out = start(tb, "--backend", "ebpf", "--pcap", str(tmp_path))
        assert proc.wait(30) == 2
        assert "--backend ebpf: --pcap needs the Python backend" in proc.stderr.read()


def test_auto_takes_a_program_the_ebpf_backend_cannot_run_with_python(tmp_path: Path) -> None:
    """--backend auto, pipeline set over P4Runtime: a program with a 128-bit multiplication
    is refused by the eBPF backend, so the Python backend runs it and forwards, and the
    switch says so in its log."""
    from softswitch.core.program import Program
    from tests.softswitch_core.conftest import p4_text

    text = p4_text(
        meta_fields="bit<128> w;",
        ingress="apply { meta.w = meta.w * meta.w; sm.egress_spec = 2; }",
    )
    (tmp_path / "prog.p4").write_text(text)
    prog = Program.from_file(tmp_path / "prog.p4")
    frame = bytes.fromhex("0200000000020200000000010800") + bytes(30)
    with Testbed(ports=[1, 2], cpu_port=255, extra_args=["--backend", "auto"]) as tb:
        c = tb.client()
        c.set_pipeline(prog.p4info, prog.device_config())
        tb.send(1, frame)
        tb.expect({2: [frame]})
        log = tb.log()
        assert "the eBPF backend does not support the operator * on bit<128>" in log, log[-2000:]
        assert "the Python backend runs this program" in log
