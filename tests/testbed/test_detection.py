"""The network detects its failures: on the diamond (BFD on every switch-to-switch link,
3 x 50 ms), with softswitch and with BMv2 (its port agent beside it), the control plane is
not told anything by the testbed (it is started on the switches, not attached to the
network's link events) and still sees every failure through the switches' gNMI port status:
a cable pull as carrier loss at once, a silent failure (both ends drop everything, carrier
up) as a BFD session expiring within the BFD bounds, over repeated runs; and it reconverges
(writes) after each."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import pytest

import topologies
from linkmon.bfd import Timers
from testbed.network import Network
from testbed.switches import softswitch_cli_available
from topologies import generators as gen

from .conftest import our_interfaces

pytestmark = [
    pytest.mark.root,
    pytest.mark.mininet,
    pytest.mark.slow,
    pytest.mark.skipif(not softswitch_cli_available(), reason="softswitch has no CLI"),
    pytest.mark.skipif(
        importlib.util.find_spec("controlplane.testbed") is None,
        reason="the control plane's testbed hook (controlplane.testbed) is not there",
    ),
]

BFD = Timers(interval_ms=50, multiplier=3)
# A silent failure is detected multiplier x interval after the last packet heard, which came
# 0 to 1 interval (less up to 25 % jitter) before the failure; plus the switch process's
# wake-up on a 2-core machine shared with other work.
SILENT_MIN_S = (BFD.multiplier - 1) * BFD.interval_ms / 1000 * 0.75
SILENT_MAX_S = BFD.detection_s + 0.06
RUNS = 3


def _wait_record(cp, link: str, up: bool, after: int, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for rec in cp.events[after:]:
            if (rec.link, rec.up) == (link, up) and rec.done:  # the reaction is complete
                return rec
        time.sleep(0.01)
    raise AssertionError(f"the controller never saw {link} {'up' if up else 'down'}")


@pytest.mark.parametrize(
    "target",
    ["softswitch", pytest.param("bmv2", marks=[pytest.mark.bmv2, pytest.mark.p4c])],
)
def test_controller_sees_carrier_loss_and_silent_failures_from_the_switches(
    prefix: str, grpc_base: int, state_dir: Path, request: pytest.FixtureRequest, target: str
) -> None:
    from controlplane.testbed import ControlPlane

    build: Path = request.getfixturevalue(f"{target}_build")
    topo = topologies.from_dict(gen.fixed("diamond"))
    net = Network(topo, target, None, prefix=prefix, grpc_port_base=grpc_base,
                  thrift_port_base=grpc_base + 20, state_dir=state_dir,
                  port_status_register="MyEgress.port_status", bfd=BFD)  # fmt: skip
    assert net.target == target  # no fallback: BMv2 itself, or softswitch
    cp = ControlPlane(technology="bier", build=build, watch_ports=True)
    try:
        net.start()
        cp.start(net.switches(), topo)  # not net.attach: no link event reaches it
        assert net._subscribers == []
        link = "s2-s4"
        carrier, silent = [], []
        for mode, out in [("carrier", carrier), ("silent", silent)] * RUNS:
            time.sleep(0.4)  # sessions at their fast rate again
            n = len(cp.events)
            ev = net.set_link(link, False, mode=mode)
            rec = _wait_record(cp, link, False, n)
            assert rec.cause == ("carrier" if mode == "carrier" else "liveness"), rec
            assert rec.detected_by.split()[0] in ("s2", "s4"), rec
            assert rec.updates > 0 and rec.error is None  # the BIFTs moved to s1-s3-s4
            out.append(rec.occurred - ev.time)
            n = len(cp.events)
            net.set_link(link, True)
            back = _wait_record(cp, link, True, n)
            assert back.updates > 0 and back.error is None
        for d in silent:
            assert SILENT_MIN_S <= d <= SILENT_MAX_S, silent
        for d in carrier:
            assert 0 <= d < SILENT_MIN_S, carrier  # no timer: the link reader at once
        assert all(r.cause != "reported" for r in cp.events)
    finally:
        cp.stop()
        net.stop()
    assert our_interfaces(prefix) == []
