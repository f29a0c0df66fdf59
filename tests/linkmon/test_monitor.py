"""linkmon on a real veth pair: BFD sessions come up, a silent failure (every frame dropped
both ways, carrier up) takes the port down after the detection time, a carrier loss at
once; a gNMI subscriber (finsy's client) hears each change with the switch's timestamp."""

from __future__ import annotations

import asyncio
import subprocess
import threading
import time
from collections.abc import Callable
from concurrent import futures

import grpc
import pytest
from finsy import GNMIClient, GNMIPath
from finsy.gnmiclient import GNMIClientError

from linkmon.bfd import State, Timers
from linkmon.gnmi import add_to_server
from linkmon.netlink import dump
from linkmon.status import PortMonitor, PortStatus

T = Timers(interval_ms=50, multiplier=3)
# The least and most a silent failure can take to detect: the peer's last packet came
# between 0 and one (jittered) interval before the failure; plus the thread's wake-up on a
# 2-core machine shared with other work.
DETECT_MIN_S = T.detection_s - T.interval_ms / 1000
SCHEDULING_SLACK_S = 0.06

pytestmark = pytest.mark.root


def _wait(cond: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, what
        time.sleep(0.005)


def _silent(intf: str, on: bool) -> None:
    """Drop every frame the interface sends (a zero-length queue), carrier untouched."""
    verb = (
        ["add", "dev", intf, "root", "pfifo", "limit", "0"] if on else ["del", "dev", intf, "root"]
    )
    subprocess.run(["tc", "qdisc", *verb], check=True)


class _End:
    def __init__(self, intf: str, own_process: bool = False) -> None:
        carrier = {1: dump([intf])[intf].up}
        self.mon = PortMonitor({1: intf}, {1}, T, carrier=carrier, own_process=own_process)
        self.seen: list[PortStatus] = []
        self.mon.listen(self.seen.append)

    def port(self) -> PortStatus:
        return self.mon.status()[1]


@pytest.mark.parametrize("own_process", [False, True], ids=["thread", "process"])
def test_bfd_detects_a_silent_failure_within_its_bounds_and_carrier_loss_at_once(
    veth_pair, own_process: bool
) -> None:
    """In a thread of the monitor's process, and in a process of its own (linkmon.sessions,
    as softswitch runs them), whose times of change are the child's."""
    a_if, b_if = veth_pair()
    _wait(lambda: all(s.up for s in dump([a_if, b_if]).values()), "veth pair never up")
    a, b = _End(a_if, own_process), _End(b_if)
    a.mon.start()
    b.mon.start()
    try:
        _wait(lambda: a.port().session == b.port().session == State.UP, "sessions never Up")
        assert a.port().up and a.port().session_was_up

        detections = []
        for _ in range(3):  # repeated: every one inside the bounds
            time.sleep(0.3)  # steady state at the fast rate
            n = len(a.seen)
            t0 = time.time_ns()
            _silent(a_if, True)
            _silent(b_if, True)
            _wait(lambda n=n: any(not s.up for s in a.seen[n:]), "silent failure not seen")
            down = next(s for s in a.seen[n:] if not s.up)
            assert (down.cause, down.carrier, down.session) == ("liveness", True, State.DOWN)
            detections.append((down.time_ns - t0) / 1e9)
            _silent(a_if, False)
            _silent(b_if, False)
            _wait(lambda: a.port().up and b.port().up, "sessions never Up again", 5.0)
        for d in detections:
            assert DETECT_MIN_S * 0.75 <= d <= T.detection_s + SCHEDULING_SLACK_S, detections
        assert a.port().session_failures == 3

        n = len(a.seen)
        t0 = time.time_ns()
        subprocess.run(["ip", "link", "set", b_if, "down"], check=True)
        a.mon.set_carrier(1, False)  # what the switch's link reader reports
        down = next(s for s in a.seen[n:] if not s.up)
        assert (down.cause, down.carrier) == ("carrier", False)
        assert (down.time_ns - t0) / 1e9 < T.interval_ms / 1000  # no timer involved
    finally:
        a.mon.stop()
        b.mon.stop()


async def _subscribe(addr: str, out: list, ready: threading.Event, stop: threading.Event):
    async with GNMIClient(addr) as client:
        got = await client.get(GNMIPath("interfaces/interface[name=*]/state/ifindex"))
        out.append(("get", [(u.path["name"], u.value) for u in got]))
        sub = client.subscribe()
        sub.on_change(
            GNMIPath("interfaces/interface[name=*]/state/oper-status"),
            GNMIPath("bfd/interfaces/interface[id=*]/peers/peer[local-discriminator=*]/state"),
        )
        out.append(("sync", [(str(u.path), u.value) async for u in sub.synchronize()]))
        ready.set()
        try:
            async for u in sub.updates():
                out.append(("update", str(u.path), u.value, u.timestamp))
        except GNMIClientError:
            if not stop.is_set():  # the server going away at the end is expected
                raise


def test_gnmi_subscriber_hears_liveness_and_carrier_changes_with_switch_timestamps(
    veth_pair,
) -> None:
    a_if, b_if = veth_pair()
    _wait(lambda: all(s.up for s in dump([a_if, b_if]).values()), "veth pair never up")
    a, b = _End(a_if), _End(b_if)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    add_to_server(a.mon, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    a.mon.start()
    b.mon.start()
    out: list = []
    ready, stop = threading.Event(), threading.Event()
    th = threading.Thread(
        target=lambda: asyncio.run(_subscribe(f"127.0.0.1:{port}", out, ready, stop)),
        daemon=True,
    )
    try:
        _wait(lambda: a.port().session == State.UP, "session never Up")
        th.start()
        assert ready.wait(10), out
        assert out[0] == ("get", [(a_if, 1)])
        sync = dict(out[1][1])
        assert sync[f"interfaces/interface[name={a_if}]/state/oper-status"] == "UP"
        state = [k for k in sync if k.endswith("/state/session-state")]
        assert len(state) == 1 and sync[state[0]] == "UP"
        assert state[0].startswith(f"bfd/interfaces/interface[id={a_if}]/peers/peer[")

        _silent(a_if, True)
        _silent(b_if, True)
        _wait(lambda: any(o[0] == "update" and o[2] == "DOWN" for o in out), "no DOWN update")
        down = next(o for o in out if o[0] == "update" and o[2] == "DOWN")
        assert down[1] == state[0]  # the session, not the interface: carrier stayed up
        seen_down = next(st for st in a.seen if st.cause == "liveness")
        assert down[3] == seen_down.time_ns  # the switch's time of the change, not receipt
        assert ("update", state[0].replace("session-state", "failure-transitions"), 1) in [
            o[:3] for o in out
        ]
        _silent(a_if, False)
        _silent(b_if, False)
        _wait(lambda: a.port().up, "session never Up again", 5.0)

        n = len(out)
        subprocess.run(["ip", "link", "set", b_if, "down"], check=True)
        a.mon.set_carrier(1, False)
        oper = f"interfaces/interface[name={a_if}]/state/oper-status"
        _wait(lambda: ("update", oper, "DOWN") in [o[:3] for o in out[n:]], "no carrier update")
        assert all(o[1] != oper for o in out[2:n])  # oper-status stayed UP while silent
    finally:
        stop.set()
        a.mon.stop()
        b.mon.stop()
        server.stop(0).wait(2)
        th.join(5)
