"""The batched data plane: PortSet.on_batch / send_many on real veths, Device.process_batch
and Switch.process_many giving exactly what per-frame processing gives."""

from __future__ import annotations

import queue
import threading
import time

import pytest

from softswitch import api
from softswitch.ports import PortSet
from softswitch.server.device import Device
from testsupport import corpus
from testsupport.harness import Testbed

HDR = bytes.fromhex("02000000000202000000000188b5")


def _switch() -> api.Switch:
    return corpus.l3_mcast_switch([2, 3, 4])


def _frames() -> list[bytes]:
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether

    def mk(dst: str, dport: int, ttl: int = 64, pad: int = 20) -> bytes:
        p = Ether(dst="02:00:00:00:01:01", src="02:00:00:00:00:09") / IP(dst=dst, ttl=ttl)
        return bytes(p / UDP(sport=7, dport=dport) / (b"x" * pad))

    return [
        mk("10.1.2.3", 4000),  # routed to port 2
        mk("239.1.1.5", 1500),  # replicated to 2, 3, 4
        mk("10.9.9.9", 4000),  # no route: dropped
        mk("10.1.2.3", 4000, ttl=1),  # TTL 1: dropped
        mk("10.1.2.3", 4000)[:20],  # truncated IPv4 header: not routed, egress_spec 0
        mk("239.1.1.5", 1500, pad=1300),
    ]


def test_process_many_equals_process_per_frame() -> None:
    frames = _frames()
    one = _switch()
    expected = [o for f in frames for o in one.process(1, f)]
    assert [p for p, _ in expected] == [2, 2, 3, 4, 0, 2, 3, 4]
    many = _switch()
    assert many.process_many(1, frames) == expected
    assert many.process_many(1, []) == []
    with pytest.raises(api.SwitchError, match="9-bit port"):
        many.process_many(512, frames)


def test_device_process_batch_sends_in_order() -> None:
    frames = _frames()
    expected = [o for f in frames for o in _switch().process(1, f)]
    sent: list[tuple[int, bytes]] = []
    dev = Device(1, cpu_port=None)
    dev.send_many = sent.extend
    dev.process_batch(1, frames)  # no pipeline yet: all counted as dropped
    assert sent == [] and dev.dropped_no_pipeline == len(frames)
    dev.switch = _switch()
    dev.process_batch(1, frames)
    assert sent == expected
    # without send_many: per frame through `send`
    one: list[tuple[int, bytes]] = []
    dev2 = Device(1, cpu_port=None, send=lambda p, f: one.append((p, f)) or True)
    dev2.switch = _switch()
    dev2.process_batch(1, frames)
    assert one == expected


@pytest.mark.root
def test_portset_batches_and_send_many() -> None:
    with Testbed(ports=[1, 2, 3], start=False) as tb:
        got: queue.Queue = queue.Queue()
        specs = [(n, tb.switch_iface(n)) for n in (1, 2, 3)]
        ps = PortSet(specs, on_frame=lambda p, f: None, on_batch=lambda p, fs: got.put((p, fs)))
        loop = threading.Thread(target=ps.run, daemon=True)
        loop.start()
        try:
            sent = [HDR + i.to_bytes(2, "big") + b"batch" * 10 for i in range(300)]
            for f in sent:
                tb.send(1, f)
            received: list[bytes] = []
            deadline = time.monotonic() + 5
            while len(received) < len(sent) and time.monotonic() < deadline:
                port, fs = got.get(timeout=5)
                assert port == 1 and 1 <= len(fs) <= 64
                received += fs
            assert received == sent  # every frame, exact, in order
            assert ps.ports[1].rx == len(sent)
            # send_many: in order, to the named ports; unknown ports skipped
            tb.drain()
            a, b, c = HDR + b"to-2", HDR + b"to-3", HDR + b"to-nowhere"
            ps.send_many([(2, a), (3, b), (9, c), (2, b)])
            deadline = time.monotonic() + 3
            out2: list[bytes] = []
            out3: list[bytes] = []
            while (len(out2) < 2 or len(out3) < 1) and time.monotonic() < deadline:
                out2 += tb.ports[2].drain()
                out3 += tb.ports[3].drain()
                time.sleep(0.05)
            assert out2 == [a, b] and out3 == [b]
            assert (ps.ports[2].tx, ps.ports[3].tx, ps.ports[1].tx) == (2, 1, 0)
        finally:
            ps.stop()
            loop.join(timeout=3)
            ps.close()
