"""The gNMI service of a switch's port status: how a controller hears of a failure from the
switch itself, as Stratum-based fabrics report ports (ON_CHANGE subscriptions to OpenConfig
leaves). Served by softswitch on its P4Runtime address, and by the agent beside BMv2 on its
own address.

Leaves, for every port (interface name N, P4 port number P):
    interfaces/interface[name=N]/state/ifindex          P (the P4 port number)
    interfaces/interface[name=N]/state/oper-status      "UP" | "DOWN": carrier
and for every port with a BFD session (discriminator D):
    bfd/interfaces/interface[id=N]/peers/peer[local-discriminator=D]/state/session-state
                                                        "UP" | "DOWN" | "INIT" | "ADMIN_DOWN"
    .../state/failure-transitions                       Up -> Down transitions so far
A port is down for forwarding while oper-status is DOWN, or while its session is not UP
and failure-transitions > 0 (linkmon.status.PortStatus.up says the same).

Get and Subscribe (STREAM with ON_CHANGE or TARGET_DEFINED, and ONCE) with "*" for any key
value; a path names a leaf or a subtree. Each notification carries the switch's wall-clock
time of the change (ns). Set and POLL/SAMPLE subscriptions are refused as UNIMPLEMENTED.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterator

import grpc
from finsy.proto import gnmi, gnmi_grpc

from linkmon.liveness import discriminator
from linkmon.status import PortMonitor, PortStatus

log = logging.getLogger("linkmon.gnmi")

GNMI_VERSION = "0.10.0"
Elem = tuple[str, tuple[tuple[str, str], ...]]  # name, sorted keys
Leaf = tuple[Elem, ...]
Value = str | int


def _e(elem: str, /, **keys: str) -> Elem:
    return elem, tuple(sorted(keys.items()))


def leaves(st: PortStatus) -> dict[Leaf, Value]:
    """The leaves of one port."""
    intf = (_e("interfaces"), _e("interface", name=st.name), _e("state"))
    out: dict[Leaf, Value] = {
        (*intf, _e("ifindex")): st.port,
        (*intf, _e("oper-status")): "UP" if st.carrier else "DOWN",
    }
    if st.session is not None:
        peer = (
            _e("bfd"),
            _e("interfaces"),
            _e("interface", id=st.name),
            _e("peers"),
            _e("peer", **{"local-discriminator": str(discriminator(st.name))}),
            _e("state"),
        )
        out[(*peer, _e("session-state"))] = st.session.name
        out[(*peer, _e("failure-transitions"))] = st.session_failures
    return out


def path_elems(prefix: gnmi.Path | None, path: gnmi.Path) -> Leaf:
    """A request path (after its prefix) as elements; the old `element` form is refused."""
    out: list[Elem] = []
    for p in (prefix, path):
        if p is None:
            continue
        if len(p.element):
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, "path.element is deprecated: use elem")
        out += [(e.name, tuple(sorted(e.key.items()))) for e in p.elem]
    return tuple(out)


def matches(want: Leaf, leaf: Leaf) -> bool:
    """`want` names `leaf` or a subtree holding it; "*" matches any name or key value."""
    if len(want) > len(leaf):
        return False
    for (wname, wkeys), (lname, lkeys) in zip(want, leaf, strict=False):
        if wname not in ("*", lname):
            return False
        lk = dict(lkeys)
        for k, v in wkeys:
            if k not in lk or v not in ("*", lk[k]):
                return False
    return True


def _path(leaf: Leaf) -> gnmi.Path:
    return gnmi.Path(elem=[gnmi.PathElem(name=n, key=dict(k)) for n, k in leaf])


def _value(v: Value) -> gnmi.TypedValue:
    return gnmi.TypedValue(uint_val=v) if isinstance(v, int) else gnmi.TypedValue(string_val=v)


def notification(values: dict[Leaf, Value], time_ns: int) -> gnmi.Notification:
    return gnmi.Notification(
        timestamp=time_ns,
        update=[gnmi.Update(path=_path(k), val=_value(v)) for k, v in values.items()],
    )


class _Abort(Exception):
    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


class GnmiService(gnmi_grpc.gNMIServicer):
    def __init__(self, monitor: PortMonitor) -> None:
        self.monitor = monitor
        self._subs: list[queue.SimpleQueue] = []
        self._lock = threading.Lock()
        monitor.listen(self._changed)

    def _changed(self, st: PortStatus) -> None:
        with self._lock:
            subs = list(self._subs)
        for q in subs:
            q.put(st)

    def _all(self) -> dict[Leaf, Value]:
        out: dict[Leaf, Value] = {}
        for st in self.monitor.status().values():
            out.update(leaves(st))
        return out

    # -- RPCs ----------------------------------------------------------------------------
    def Capabilities(self, request, context):
        return gnmi.CapabilityResponse(
            supported_models=[
                gnmi.ModelData(name="openconfig-interfaces", organization="OpenConfig"),
                gnmi.ModelData(name="openconfig-bfd", organization="OpenConfig"),
            ],
            supported_encodings=[gnmi.Encoding.PROTO],
            gNMI_version=GNMI_VERSION,
        )

    def Get(self, request, context):
        try:
            wants = [path_elems(request.prefix, p) for p in request.path] or [()]
        except _Abort as a:
            context.abort(a.code, a.message)
        values = self._all()
        times = [st.time_ns for st in self.monitor.status().values()]
        picked = {k: v for k, v in values.items() if any(matches(w, k) for w in wants)}
        if not picked:
            context.abort(grpc.StatusCode.NOT_FOUND, f"no leaf matches {list(request.path)}")
        return gnmi.GetResponse(notification=[notification(picked, max(times, default=0))])

    def Set(self, request, context):
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "this switch's gNMI is read-only")

    def Subscribe(self, request_iterator, context) -> Iterator[gnmi.SubscribeResponse]:
        try:
            first = next(request_iterator)
        except StopIteration:
            return
        if not first.HasField("subscribe"):
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "the first request must subscribe")
        sl = first.subscribe
        mode = gnmi.SubscriptionList.Mode
        if sl.mode == mode.POLL:
            context.abort(grpc.StatusCode.UNIMPLEMENTED, "POLL subscriptions are not supported")
        try:
            wants = [path_elems(sl.prefix if sl.HasField("prefix") else None, s.path)
                     for s in sl.subscription]  # fmt: skip
        except _Abort as a:
            context.abort(a.code, a.message)
        if sl.mode == mode.STREAM:
            for s in sl.subscription:
                if s.mode not in (gnmi.SubscriptionMode.ON_CHANGE,
                                  gnmi.SubscriptionMode.TARGET_DEFINED):  # fmt: skip
                    context.abort(
                        grpc.StatusCode.UNIMPLEMENTED,
                        f"subscription mode {gnmi.SubscriptionMode.Name(s.mode)}: only "
                        "ON_CHANGE (or TARGET_DEFINED) is supported",
                    )
        wants = wants or [()]
        q: queue.SimpleQueue = queue.SimpleQueue()
        with self._lock:  # subscribed before the snapshot: no change falls between
            self._subs.append(q)
        sent: dict[Leaf, Value] = {}  # what this stream has said: ON_CHANGE sends changes

        def changed(st: PortStatus) -> gnmi.SubscribeResponse | None:
            picked = {
                k: v
                for k, v in leaves(st).items()
                if any(matches(w, k) for w in wants) and sent.get(k) != v
            }
            sent.update(picked)
            if not picked:
                return None
            return gnmi.SubscribeResponse(update=notification(picked, st.time_ns))

        try:
            for st in self.monitor.status().values():
                if (msg := changed(st)) is not None:
                    yield msg
            yield gnmi.SubscribeResponse(sync_response=True)
            if sl.mode == mode.ONCE:
                return
            while context.is_active():
                try:
                    st = q.get(timeout=0.5)
                except queue.Empty:
                    continue
                if (msg := changed(st)) is not None:
                    yield msg
        finally:
            with self._lock:
                self._subs.remove(q)


def add_to_server(monitor: PortMonitor, server: grpc.Server) -> GnmiService:
    service = GnmiService(monitor)
    gnmi_grpc.add_gNMIServicer_to_server(service, server)
    return service
