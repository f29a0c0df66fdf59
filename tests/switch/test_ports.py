"""softswitch.ports on real veth pairs: frames both ways, own transmissions not read back,
carrier changes noticed through netlink, per-port pcap files."""

from __future__ import annotations

import contextlib
import queue
import struct
import threading
import time
from pathlib import Path

import pytest

from softswitch.ports import PortSet, parse_port_spec
from testsupport.harness import Testbed

pytestmark = pytest.mark.root

FRAME = bytes.fromhex("02000000000202000000000188b5") + b"softswitch port test" * 3


def test_parse_port_spec() -> None:
    assert parse_port_spec("1@veth1") == (1, "veth1")
    for bad in ("veth1", "x@veth1", "1@", "600@veth1"):
        with pytest.raises(ValueError, match="bad interface spec"):
            parse_port_spec(bad)


def _read_pcap(path: Path) -> list[bytes]:
    data = path.read_bytes()
    magic, _, _, _, _, _, linktype = struct.unpack_from("<IHHiIII", data)
    assert magic == 0xA1B2C3D4 and linktype == 1
    out, off = [], 24
    while off < len(data):
        _, _, incl, orig = struct.unpack_from("<IIII", data, off)
        assert incl == orig
        out.append(data[off + 16 : off + 16 + incl])
        off += 16 + incl
    return out


def test_portset_frames_carrier_pcap(tmp_path: Path) -> None:
    with Testbed(ports=[1, 2], start=False) as tb:
        frames: queue.Queue = queue.Queue()
        carrier: queue.Queue = queue.Queue()
        specs = [(n, tb.switch_iface(n)) for n in (1, 2)]
        ps = PortSet(
            specs,
            on_frame=lambda p, f: frames.put((p, f)),
            on_carrier=lambda p, up: carrier.put((p, up)),
            pcap_dir=tmp_path,
        )
        loop = threading.Thread(target=ps.run, daemon=True)
        loop.start()
        try:
            assert ps.carrier(1) and ps.carrier(2)
            # host -> switch
            tb.send(2, FRAME)
            assert frames.get(timeout=3) == (2, FRAME)
            # switch -> host; the switch's own transmission must not come back as input
            assert ps.send(1, FRAME[::-1][:60])
            tb.expect({1: [FRAME[::-1][:60]]})
            with pytest.raises(queue.Empty):
                frames.get(timeout=0.3)
            assert not ps.send(9, FRAME)  # no such port
            # carrier: host end down -> switch end loses carrier, and back
            tb.set_carrier(1, False)
            assert carrier.get(timeout=3) == (1, False)
            assert not ps.carrier(1)
            tb.set_carrier(1, True)
            assert carrier.get(timeout=3) == (1, True)
            assert ps.carrier(1)
        finally:
            ps.stop()
            loop.join(timeout=3)
            ps.close()
        assert not loop.is_alive()
        assert _read_pcap(tmp_path / f"{tb.switch_iface(2)}_in.pcap") == [FRAME]
        assert _read_pcap(tmp_path / f"{tb.switch_iface(1)}_out.pcap") == [FRAME[::-1][:60]]
        assert _read_pcap(tmp_path / f"{tb.switch_iface(1)}_in.pcap") == []


def test_port_socket_never_queues_other_interfaces_frames() -> None:
    """A port's socket holds only its own interface's frames, even those that arrived on
    other links while it was being opened (an ETH_P_ALL socket bound only later queues
    every interface's traffic in between: other tests' frames showed up on port 1)."""
    other = bytes.fromhex("02000000000302000000000388b5") + b"another link" * 4
    with Testbed(ports=[1, 2], start=False) as tb:
        stop = threading.Event()

        def blast() -> None:  # bounded: stops when told, or after 30 s at the latest
            end = time.monotonic() + 30
            while not stop.is_set() and time.monotonic() < end:
                tb.send(2, other)

        sender = threading.Thread(target=blast, daemon=True)
        sender.start()
        leaked = []
        try:
            for _ in range(200):
                ps = PortSet([(1, tb.switch_iface(1))], on_frame=lambda p, f: None)
                try:
                    time.sleep(0.001)  # let the sender run while this socket is open
                    with contextlib.suppress(BlockingIOError):
                        leaked.append(ps.ports[1].sock.recv(65536))
                finally:
                    ps.close()
        finally:
            stop.set()
            sender.join()
        # port 2's frames are what must not leak; a frame the kernel itself may send on
        # port 1's own link is that link's, which the socket may hold
        assert [f for f in leaked if f == other] == []


def test_portset_rejects_missing_interface() -> None:
    with pytest.raises(OSError, match="ssbnope0"):
        PortSet([(1, "ssbnope0")], on_frame=lambda p, f: None)


def test_a_port_found_down_gets_none_of_the_frames_queued_meanwhile() -> None:
    """While the loop is busy with a batch, frames queue on a port and then another port loses
    carrier: the loop takes the link change first, so the data plane knows the port is down
    before it forwards the queued frames (a switch process stalled on a loaded machine)."""
    with Testbed(ports=[1, 2], start=False) as tb:
        seen: list[tuple[str, int, int]] = []
        busy, release = threading.Event(), threading.Event()

        def on_batch(port: int, batch: list[bytes]) -> None:
            seen.append(("frames", port, len(batch)))
            if len(seen) == 1:  # the first batch holds the loop while the rest happens
                busy.set()
                release.wait(5)

        ps = PortSet(
            [(n, tb.switch_iface(n)) for n in (1, 2)],
            on_frame=lambda p, f: None,
            on_batch=on_batch,
            on_carrier=lambda p, up: seen.append(("carrier", p, int(up))),
        )
        loop = threading.Thread(target=ps.run, daemon=True)
        loop.start()
        try:
            assert ps.ready.wait(5)
            tb.send(2, FRAME)
            assert busy.wait(5)
            for _ in range(3):
                tb.send(2, FRAME)  # queued on port 2 before the carrier goes
            time.sleep(0.1)
            tb.set_carrier(1, False)
            time.sleep(0.2)  # the link message is queued too
            release.set()
            deadline = time.monotonic() + 5
            while len(seen) < 3 and time.monotonic() < deadline:
                time.sleep(0.02)
            assert seen[:3] == [("frames", 2, 1), ("carrier", 1, 0), ("frames", 2, 3)]
        finally:
            release.set()
            ps.stop()
            loop.join(timeout=3)
            ps.close()
