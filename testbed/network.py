"""Bring a topology up in Mininet: one switch process per topology switch in the root
namespace, one Mininet host per topology host, links with their bandwidth (htb, through
testbed.shaping), and take it all down again whatever happens.

    with Network(load("topologies/fixed/diamond.yaml"), target="auto", program="unicast") as net:
        for sw in net.switches():            # SwitchInfo: name, device_id, grpc_addr, ports
            ...
        net.subscribe(records.append)        # every LinkEvent applied, for the records
        net.set_link("s1-s2", up=False)      # the switches see it; a controller hears it from them

Every object created is written to a state file first (testbed.state), so that
`python -m experiments.cleanup` removes exactly our leftovers after a crash.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import networkx as nx
from mininet.log import setLogLevel
from mininet.net import Mininet
from mininet.node import Host

from linkmon.bfd import Timers
from testbed import bulk
from testbed.cable import middle_names
from testbed.failures import LinkEvent, Mode, Subscriber, check_mode, is_shaped, silent_command
from testbed.linkops import LinkOpError, RootLinks
from testbed.names import IFNAMSIZ, KernelNames, NamingError
from testbed.shaping import ShapingError, check_rate
from testbed.state import RunState, netns_inode, netns_map, start_ticks
from testbed.switches import (
    THRIFT_PORT_BASE,
    Bmv2Switch,
    LinuxBridgeSwitch,
    P4Switch,
    SwitchInfo,
    TestbedSwitch,
    choose_target,
    resolve_program,
)
from testbed.watch import LinkWatcher
from topologies.model import Link, Topology, switch_port_mac

GATEWAY = "10.255.255.254"  # contracts.md: every host's default gateway, never ARPed


DEFAULT_BFD = Timers()  # BFD on every switch-to-switch link: 3 x 50 ms


class NetworkError(RuntimeError):
    pass


def netem_available() -> bool:
    if Path("/sys/module/sch_netem").exists():
        return True
    release = subprocess.run(["uname", "-r"], capture_output=True, text=True).stdout.strip()
    mods = Path("/lib/modules") / release
    builtin = mods / "modules.builtin"
    if builtin.exists() and "sch_netem" in builtin.read_text():
        return True
    return any(mods.glob("kernel/net/sched/sch_netem.ko*"))


class Network:
    """A running emulated network for one topology.

    target: "auto" (softswitch on its eBPF backend where it can run, else BMv2 if installed,
    else softswitch on its Python backend), "softswitch", "bmv2" or "bridge"
    (plain Linux bridges: a baseline; links outside a min-weight spanning tree are blocked).
    program: P4 program name (build/<target>/<name>.json) or a device-config path; None
    starts the P4 switches without one (--no-p4) for the control plane to push.
    prefix: prepended to every Mininet node name and to every interface and bridge name in
    the root namespace (testbed.names: short kernel names where a node name is too long), so
    that several networks can run side by side.
    grpc_port_base: switch with device id N serves P4Runtime on 127.0.0.1:(base + N).
    thrift_port_base: BMv2 only: its Thrift server on 127.0.0.1:(base + N) (the port-status
    agent and simple_switch_CLI use it).
    log_dir: where the switches write their logs (and pcaps); kept. Without it a temporary
    folder is used and removed at stop(), unless keep_logs or MCAST_KEEP_LOGS=1.
    delay: what to do with link delays: "refuse" (error if any link has one and there is no
    netem), "netem" (use it; error without it), "ignore" (run without delays, say so).
    cables: links with a middle that a pull takes down, so that the switch ports only lose
    carrier (testbed.cable); None: for BMv2, which stops reading every port while one of its
    ports is administratively down. Otherwise a pull takes the switch-side ends down.
    """

    def __init__(
        self,
        topo: Topology,
        target: str = "auto",
        program: str | Path | None = None,
        *,
        prefix: str = "",
        grpc_port_base: int = 9559,
        thrift_port_base: int = THRIFT_PORT_BASE,
        log_dir: Path | None = None,
        keep_logs: bool = False,
        port_status_register: str | None = None,
        bfd: Timers | None = DEFAULT_BFD,
        pcap: bool = False,
        debug_log: bool = False,
        ready_timeout: float = 30.0,
        delay: str = "refuse",
        state_dir: Path | None = None,
        say: Callable[[str], None] | None = None,
        cables: bool | None = None,
    ) -> None:
        self.topo = topo
        self.prefix = prefix
        self.say = say or (lambda _msg: None)
        self.switch_cls, self.target_note = choose_target(target)
        self.target = self.switch_cls.target
        # BMv2 must never see a port taken down (testbed.cable): its links get middles,
        # and a pull takes those down instead of the switch-side ends
        self.cables = self.switch_cls is Bmv2Switch if cables is None else cables
        # no program: the switch starts empty (--no-p4) and the control plane pushes the
        # pipeline with SetForwardingPipelineConfig
        self.program = (
            None
            if self.target == "bridge" or program is None
            else resolve_program(program, self.target)
        )
        self.grpc_port_base = grpc_port_base
        self.thrift_port_base = thrift_port_base
        self.tcp_ports = switch_tcp_ports(
            {s.name: s.device_id or 0 for s in topo.switches},
            grpc_port_base,
            thrift_port_base if self.switch_cls is Bmv2Switch else None,
        )
        self.port_status_register = port_status_register
        self.bfd = bfd
        self.pcap = pcap
        self.debug_log = debug_log
        self.ready_timeout = ready_timeout
        self.state_dir = state_dir
        self.log_dir = log_dir
        self.keep_logs = keep_logs or os.environ.get("MCAST_KEEP_LOGS") == "1"
        self._own_log_dir = False  # a temporary folder of ours: removed at stop()
        self.use_delay = self._delay_policy(delay)
        self._check_rates()
        self.blocked_links: list[str] = self._blocked() if self.target == "bridge" else []
        try:
            self.names = KernelNames(topo, prefix)
        except NamingError as e:
            raise NetworkError(str(e)) from None
        longest = middle_names(prefix, len(topo.links) - 1)[0] if self.cables else ""
        if len(longest) > IFNAMSIZ:
            raise NetworkError(
                f"the cable interface {longest!r} is longer than {IFNAMSIZ} characters; use a "
                f"shorter prefix than {prefix!r}."
            )
        self.net: Mininet | None = None
        self.state: RunState | None = None
        self.events: list[LinkEvent] = []
        self._failed: dict[str, Mode] = {}  # link -> how it failed, until restored
        self._subscribers: list[Subscriber] = []
        self._table_dumper: Callable[[str], str] | None = None
        self._lock = threading.Lock()  # the event list and subscribers
        self._change = threading.RLock()  # held while a link changes (see LinkWatcher)
        self._old_sigterm: Any = None
        self._stopped = False
        self._link_up: dict[str, bool] = {lk.name: True for lk in topo.links}
        self._pull: dict[str, list[str]] = {lk.name: self._pull_points(i, lk) for i, lk in
                                            enumerate(topo.links)}  # fmt: skip
        self._watcher: LinkWatcher | None = None
        self._root_links: RootLinks | None = None

    # -- names ---------------------------------------------------------------------------
    def node_name(self, name: str) -> str:
        """The Mininet node name of a topology node."""
        return self.prefix + name

    def intf_name(self, switch: str, port: int) -> str:
        """The kernel interface of a switch port ("s1-eth2"; short for long names)."""
        return self.names.port(switch, port)

    def middles(self, index: int) -> tuple[str, str]:
        """The middle interfaces of the index-th link when links are cables (BMv2)."""
        return middle_names(self.prefix, index)

    def _pull_points(self, index: int, lk: Link) -> list[str]:
        """The root-namespace interfaces a pull of this link takes down: the middles of its
        cable, or else its switch-side ends (a host keeps its address, route, neighbour)."""
        if self.cables:
            return list(self.middles(index))
        return [
            self.intf_name(end, port)
            for end, port in ((lk.a, lk.a_port or 0), (lk.b, lk.b_port or 0))
            if self.topo.is_switch(end)
        ]

    def _root_names(self) -> list[tuple[str, str]]:
        """(state-file kind, name) of every object this network makes in the root namespace."""
        names = [("iface", n) for n in self.names.ports().values()]
        if self.target == "bridge":
            names += [("bridge", self.names.bridge(s.name)) for s in self.topo.switches]
        if self.cables:
            names += [("iface", m) for i in range(len(self.topo.links)) for m in self.middles(i)]
        return names

    # -- policies --------------------------------------------------------------------------
    def _delay_policy(self, delay: str) -> bool:
        delayed = [f"{lk.name} ({lk.delay_ms:g} ms)" for lk in self.topo.links if lk.delay_ms]
        if delay not in ("refuse", "netem", "ignore"):
            raise ValueError(f"delay: must be refuse, netem or ignore, got {delay!r}")
        if not delayed:
            return False
        if delay == "ignore":
            self.say(f"link delays IGNORED (no emulation): {', '.join(delayed)}")
            return False
        if netem_available():
            self.say(f"link delays emulated with netem: {', '.join(delayed)}")
            return True
        raise NetworkError(
            f"topology {self.topo.name!r} asks for link delay on {', '.join(delayed)}, but this "
            "kernel has no netem (sch_netem) to emulate it; remove the delays, or run with "
            "delays ignored (--delay ignore), or on a machine with netem"
        )

    def _check_rates(self) -> None:
        """Every link's rate can be shaped as it is (before anything is built)."""
        for lk in self.topo.links:
            try:
                check_rate(lk.bw_mbit, f"topology {self.topo.name!r}, link {lk.name}")
            except ShapingError as e:
                raise NetworkError(str(e)) from e

    def _blocked(self) -> list[str]:
        """Bridge baseline: links outside a minimum-weight spanning tree of the switches are
        kept out of the bridges, as STP would block them."""
        g = nx.Graph()
        g.add_nodes_from(s.name for s in self.topo.switches)
        links = self.topo.switch_links()
        for i, lk in enumerate(links):  # ties broken by file order, deterministically
            g.add_edge(lk.a, lk.b, weight=lk.weight + i / (len(links) + 1), name=lk.name)
        tree = nx.minimum_spanning_tree(g, weight="weight")
        keep = {d["name"] for _, _, d in tree.edges(data=True)}
        return [lk.name for lk in self.topo.switch_links() if lk.name not in keep]

    # -- bring-up ------------------------------------------------------------------------
    def start(self) -> Network:
        for _, n in self._root_names():
            if Path(f"/sys/class/net/{n}").exists():
                raise NetworkError(
                    f"interface {n} already exists: another network with prefix "
                    f"{self.prefix!r} is running (or crashed: python -m experiments.cleanup)"
                )
        self.state = RunState(self.prefix, self.state_dir)
        if self.log_dir is None:
            self.log_dir = Path(tempfile.mkdtemp(prefix=f"mcast-{self.state.run_id}-"))
            self._own_log_dir = True
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for kind, n in self._root_names():  # recorded before they exist: a crash may come
            self.state.add(kind, n)
        self._install_handlers()
        try:
            self._build()
        except BaseException:
            self.stop()
            raise
        return self

    def _install_handlers(self) -> None:
        atexit.register(self.stop)
        if threading.current_thread() is threading.main_thread():
            self._old_sigterm = signal.getsignal(signal.SIGTERM)

            def on_term(signum: int, frame: Any) -> None:
                raise SystemExit(128 + signum)  # unwinds through `with` and finally: stop()

            signal.signal(signal.SIGTERM, on_term)

    def _build(self) -> None:
        """Mininet's nodes (a shell each); the links in a few batches (testbed.bulk); the
        switch processes started, the hosts configured while they boot, then every switch
        awaited."""
        setLogLevel("critical")  # Mininet's progress lines; a failed tc raises BulkError
        assert self.state is not None and self.log_dir is not None
        net = Mininet(
            topo=None,
            build=False,
            controller=None,
            switch=self.switch_cls,
            host=Host,
            link=bulk.prebuilt_link(),
            autoSetMacs=False,
        )
        self.net = net
        # every host is configured below in one go; Mininet's own configuration of each (a
        # round trip per command) would be undone anyway
        net.built = True
        blocked = {self.topo.link_between(*n.split("-", 1)).name for n in self.blocked_links}
        for h in self.topo.hosts:
            node = net.addHost(self.node_name(h.name), ip=None, mac=h.mac)
            self.state.add_process("node", node.pid, node.name)
            sw, port, _ = self.topo.host_attachment(h.name)
            peer = self._host_peer(h.name) if self.cables else self.intf_name(sw, port)
            self.state.add("hostns", node.name, netns_inode(node.pid), h.mac, peer)
        for s in self.topo.switches:
            params: dict[str, Any] = dict(
                cls=self.switch_cls,
                topo_name=s.name,
                device_id=s.device_id,
                state=self.state,
                log_dir=self.log_dir,
                peers=self.topo.neighbours(s.name),
            )
            if issubclass(self.switch_cls, P4Switch):
                grpc_port, thrift_port = self.tcp_ports[s.name]
                params.update(
                    program=self.program,
                    grpc_port=grpc_port,
                    port_status_register=self.port_status_register,
                    bfd=self.bfd,
                    pcap=self.pcap,
                    debug_log=self.debug_log,
                )
            if self.switch_cls is Bmv2Switch:
                params["thrift_port"] = thrift_port
            if self.switch_cls is LinuxBridgeSwitch:
                params["bridge_name"] = self.names.bridge(s.name)
                params["blocked_ports"] = {
                    p
                    for p, (peer, _) in self.topo.neighbours(s.name).items()
                    if self.topo.link_between(s.name, peer).name in blocked
                }
            node = net.addSwitch(self.node_name(s.name), **params)
            node.ready_timeout = self.ready_timeout
            self.state.add_process("node", node.pid, node.name)
        specs = [self._add_link(net, i, lk) for i, lk in enumerate(self.topo.links)]
        try:
            bulk.run_batch("ip", bulk.ip_lines(specs))
            bulk.run_batch("tc", bulk.root_tc_lines(specs))
        except bulk.BulkError as e:
            raise NetworkError(f"building the links of {self.topo.name!r}: {e}") from e
        bulk.configure_root_ends(bulk.root_ifaces(specs))
        self.say(f"{self.target_note}; starting {len(self.topo.switches)} switches")
        for sw in net.switches:  # processes start; they boot while the hosts are configured
            sw.start([])
        self._configure_hosts()
        for cls in {type(sw) for sw in net.switches}:
            if hasattr(cls, "batchStartup"):
                cls.batchStartup([sw for sw in net.switches if type(sw) is cls])
        self._start_watcher()

    def _start_watcher(self) -> None:
        self._watcher = LinkWatcher(self._pull, self._known_up, self._external_change, self._change)
        self._watcher.start()

    def _known_up(self, link: str) -> bool:
        with self._change:
            return self._link_up[link]

    def _external_change(self, link: str, up: bool) -> None:
        lk = self.find_link(link)
        kind = "up" if up else "down"
        with self._change:
            if self._link_up[link] == up:
                return
            self._link_up[link] = up
        ev = LinkEvent(
            time.time(),
            kind,
            lk.name,
            ((lk.a, lk.a_port or 0), (lk.b, lk.b_port or 0)),
            f"link {lk.name} {kind} (done outside this process)",
        )
        self._publish(ev)

    def _end(self, name: str, port: int) -> tuple[str, str, str]:
        """(Mininet node, interface name, MAC) of one link end."""
        if self.topo.is_switch(name):
            did = self.topo.switch(name).device_id or 0
            return self.node_name(name), self.intf_name(name, port), switch_port_mac(did, port)
        return self.node_name(name), "eth0", self.topo.host(name).mac or ""

    def _host_peer(self, host: str) -> str:
        """The root-namespace interface a host's eth0 is paired with, on a cable."""
        for i, lk in enumerate(self.topo.links):
            if host in (lk.a, lk.b):
                return self.middles(i)[0 if lk.a == host else 1]
        raise NetworkError(f"host {host} has no link.")

    def _add_link(self, net: Mininet, index: int, lk: Link) -> bulk.LinkSpec:
        """The link in Mininet's books and the state file; what testbed.bulk makes of it."""
        assert self.state is not None
        n1, i1, m1 = self._end(lk.a, lk.a_port or 0)
        n2, i2, m2 = self._end(lk.b, lk.b_port or 0)
        # an end we may pull: switch side only (a host keeps its address/route/neighbour)
        e1 = i1 if self.topo.is_switch(lk.a) else "-"
        e2 = i2 if self.topo.is_switch(lk.b) else "-"
        self.state.add("link", lk.name, e1, e2, lk.a_port or 0, lk.b_port or 0)
        middles = self.middles(index) if self.cables else None
        if middles is not None:
            self.state.add("cable", lk.name, *middles)
        net.addLink(
            n1, n2, port1=lk.a_port or 0, port2=lk.b_port or 0, intfName1=i1, intfName2=i2,
            addr1=m1, addr2=m2, bw=lk.bw_mbit,
        )  # fmt: skip
        return bulk.LinkSpec(
            self._bulk_end(lk.a, i1, m1),
            self._bulk_end(lk.b, i2, m2),
            self.topo.link_mtu(lk),
            lk.bw_mbit,
            lk.delay_ms if self.use_delay else 0.0,
            middles,
        )

    def _bulk_end(self, name: str, intf: str, mac: str) -> bulk.End:
        assert self.net is not None
        if self.topo.is_switch(name):
            return bulk.End(intf, mac)
        return bulk.End(intf, mac, self.net.get(self.node_name(name)).pid)

    def _configure_hosts(self) -> None:
        """Every host at once (testbed.bulk.run_in_hosts): IPv6 and offloads off, its address,
        the contract's gateway route and neighbour (the bridge baseline: an /8, real ARP), the
        htb of its end."""
        assert self.net is not None
        bridge = self.target == "bridge"
        commands = {}
        for h in self.topo.hosts:
            sw, port, link = self.topo.host_attachment(h.name)
            gw_mac = switch_port_mac(self.topo.switch(sw).device_id or 0, port)
            node = self.net.get(self.node_name(h.name))
            spec = bulk.LinkSpec(
                bulk.End("eth0", h.mac or ""), bulk.End("-", ""), self.topo.link_mtu(link),
                link.bw_mbit, link.delay_ms if self.use_delay else 0.0,
            )  # fmt: skip
            if bridge:  # one L2 domain: real ARP between the hosts (the bridge baseline only)
                commands[node] = bulk.host_command(spec.a, spec, [f"{h.ip}/8"], [], [])
            else:
                commands[node] = bulk.host_command(
                    spec.a, spec, [f"{h.ip}/32"], [f"default via {GATEWAY} onlink"],
                    [f"{GATEWAY} lladdr {gw_mac}"],
                )  # fmt: skip
        for node, out in bulk.run_in_hosts(commands).items():
            if "CONFIGURED" not in out:
                raise NetworkError(f"host {node.name}: configuration failed: {out.strip()}")
        for h in self.topo.hosts:
            # Mininet's own record of the address (pingall, `h1 ping h2`): set here, since the
            # host was added without one so that Mininet would not configure it itself
            intf = self.net.get(self.node_name(h.name)).defaultIntf()
            intf.ip, intf.prefixLen = str(h.ip), 8 if bridge else 32

    # -- what the control plane gets -----------------------------------------------------
    def switches(self) -> list[SwitchInfo]:
        assert self.net is not None, "network not started"
        return [self._switch_node(s.name).info() for s in self.topo.switches]

    def switch_info(self, name: str) -> SwitchInfo:
        return self._switch_node(name).info()

    def switch_node(self, name: str) -> TestbedSwitch:
        """The Mininet node of a topology switch (its process, logs and backend)."""
        return self._switch_node(name)

    def _switch_node(self, name: str) -> TestbedSwitch:
        assert self.net is not None, "network not started"
        return self.net.get(self.node_name(name))

    def host(self, name: str) -> Host:
        """The Mininet host of a topology host (host.cmd(...), host.popen(...))."""
        assert self.net is not None, "network not started"
        return self.net.get(self.node_name(name))

    @property
    def run_id(self) -> str:
        return self.state.run_id if self.state else ""

    def subscribe(self, callback: Subscriber) -> None:
        """Call `callback(LinkEvent)` for every link change this network applies."""
        self._subscribers.append(callback)

    def register_table_dumper(self, dump: Callable[[str], str]) -> None:
        """The control plane's way to show a switch's tables (the CLI's `tables` command)."""
        self._table_dumper = dump

    def dump_tables(self, switch: str) -> str:
        if self._table_dumper is None:
            return "no control plane attached: nothing can read the switch's tables"
        return self._table_dumper(switch)

    def attach(self, control_plane: Any) -> None:
        """Wire a control plane in: it gets the switch list through `start(switches, topo)`
        and serves `dump_tables(switch)`. It is told nothing of failures: the switches tell
        it (their gNMI port status)."""
        if hasattr(control_plane, "dump_tables"):
            self.register_table_dumper(control_plane.dump_tables)
        control_plane.start(self.switches(), self.topo)

    # -- failures ------------------------------------------------------------------------
    def find_link(self, name: str) -> Link:
        a, sep, b = name.partition("-")
        if not sep:
            raise KeyError(f"link names look like s1-s2, got {name!r}")
        return self.topo.link_between(a, b)

    def set_link(
        self,
        name: str,
        up: bool,
        cause: str = "",
        offset: float | None = None,
        mode: Mode = "carrier",
    ) -> LinkEvent:
        """Fail (up=False) a link the `mode` way, or restore it (up=True) from however it
        failed: `carrier` pulls the cable (both ends lose carrier), `silent` makes both ends
        drop everything they send while carrier stays up (testbed.failures)."""
        lk = self.find_link(name)
        check_mode(mode)
        ends = [(e, p or 0) for e, p in ((lk.a, lk.a_port), (lk.b, lk.b_port))]
        with self._change:  # the watcher must not see (and report) our change half-made
            # where a silent failure's queues go, asked before the failure is timed
            points = {
                (e, p): self._links.silent_point(self.intf_name(e, p))
                for e, p in ends
                if self.topo.is_switch(e) and mode == "silent"
            }
            started = time.time()  # the failure begins with the first command
            again = False
            if up:
                mode = self._failed.pop(lk.name, "carrier")
            elif lk.name in self._failed:
                if self._failed[lk.name] != mode:
                    raise NetworkError(
                        f"link {lk.name} has already failed ({self._failed[lk.name]}): "
                        f"restore it before failing it {mode}"
                    )
                again = mode == "silent"  # its queue is in place already
            if again:
                pass
            elif mode == "carrier":
                self._link_up[lk.name] = up
                for intf in self._pull[lk.name]:
                    self._set_up(intf, up)
            else:  # switch ends first: in this process, within a millisecond of `started`
                for end, port in sorted(ends, key=lambda e: not self.topo.is_switch(e[0])):
                    self._silent(end, port, not up, points.get((end, port)))
            if not up:
                self._failed[lk.name] = mode
        kind = "up" if up else "down"
        ev = LinkEvent(
            started,
            kind,
            lk.name,
            ((lk.a, lk.a_port or 0), (lk.b, lk.b_port or 0)),
            cause
            or f"link {lk.name} {kind}" + (" silently" if mode == "silent" and not up else ""),
            offset,
            mode,
        )
        self._publish(ev)
        return ev

    @property
    def _links(self) -> RootLinks:
        """Failure commands on the root namespace's interfaces, opened at the first one."""
        if self._root_links is None:
            self._root_links = RootLinks()
        return self._root_links

    def _set_up(self, intf: str, up: bool) -> None:
        try:
            self._links.set_up(intf, up)
        except LinkOpError as e:
            raise NetworkError(str(e)) from None

    def _silent(self, node: str, port: int, on: bool, point: tuple[int, int] | None = None) -> None:
        """One end of a link drops everything it sends (`on`), or stops dropping."""
        if self.topo.is_switch(node):
            try:
                self._links.silent(self.intf_name(node, port), on, point)
            except LinkOpError as e:
                raise NetworkError(f"{node} port {port}: {e}") from None
            return
        host = self.host(node)
        show = host.cmd("tc qdisc show dev eth0")
        out = host.cmd(silent_command("eth0", on, is_shaped(show)) + " && echo DONE")
        if "DONE" not in out:
            raise NetworkError(
                f"{node} port {port}: cannot {'start' if on else 'stop'} dropping: {out.strip()}"
            )

    def set_switch(
        self, name: str, up: bool, offset: float | None = None, mode: Mode = "carrier"
    ) -> list[LinkEvent]:
        """A whole switch fails (or returns): every link of it fails the `mode` way (is
        restored)."""
        self.topo.switch(name)
        kind = "up" if up else "down"
        return [
            self.set_link(f"{name}-{peer}", up, f"switch {name} {kind}", offset, mode)
            for peer, _ in self.topo.neighbours(name).values()
        ]

    def _publish(self, ev: LinkEvent) -> None:
        with self._lock:
            self.events.append(ev)
            subs = list(self._subscribers)
        for cb in subs:
            cb(ev)

    # -- teardown ------------------------------------------------------------------------
    def stop(self) -> None:
        """Remove everything this network created. Safe to call twice."""
        if self._stopped:
            return
        self._stopped = True
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop)
        if self._watcher is not None:
            self._watcher.stop()
        if self._root_links is not None:
            self._root_links.close()
        if self.net is not None:
            for sw in self.net.switches:  # before Mininet removes the links under them
                if isinstance(sw, Bmv2Switch):
                    sw.stop_agent()
            self._kill_host_processes()
            try:
                self.net.stop()
            except Exception as e:  # go on: the state file lets cleanup finish the job
                self.say(f"mininet stop: {e}")
            # the kernel's side of the links in one batch (Mininet's objects delete nothing)
            bulk.delete_ifaces(n for kind, n in self._root_names() if kind == "iface")
        if self.state is not None:
            from testbed.cleanup import clean_run  # everything recorded that is still there
            from testbed.state import read

            self.state.close(remove=False)
            clean_run(read(self.state.path), force=True)
        if self._own_log_dir and not self.keep_logs and self.log_dir is not None:
            shutil.rmtree(self.log_dir, ignore_errors=True)
        if self._old_sigterm is not None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self._old_sigterm)

    def _kill_host_processes(self) -> None:
        """Processes started in the hosts (receivers, senders) outlive Mininet's shells and
        would keep the namespaces; while the shells live, their namespaces are surely ours."""
        from testbed.cleanup import CleanupReport, _kill

        assert self.net is not None
        victims = []
        by_ns = netns_map()
        for h in self.net.hosts:
            shell = h.shell.pid if h.shell is not None else None
            inode = netns_inode(shell) if shell else None
            if inode is None:
                continue
            victims += [
                (pid, start_ticks(pid) or 0, f"in {h.name}")
                for pid in by_ns.get(inode, [])
                if pid != shell
            ]
        if victims:
            _kill(victims, CleanupReport("stop"))

    def __enter__(self) -> Network:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def switch_tcp_ports(
    device_ids: dict[str, int], grpc_base: int, thrift_base: int | None
) -> dict[str, tuple[int, int | None]]:
    """switch -> (P4Runtime port, Thrift port or None): base + device id, every port
    distinct and valid, or NetworkError naming the two switches that would share one."""
    owner: dict[int, str] = {}
    out: dict[str, tuple[int, int | None]] = {}
    for name, did in device_ids.items():
        grpc = grpc_base + did
        thrift = None if thrift_base is None else thrift_base + did
        for what, port in (("P4Runtime", grpc), ("Thrift", thrift)):
            if port is None:
                continue
            if not 0 < port < 65536:
                raise NetworkError(f"switch {name}: {what} port {port} is not a TCP port")
            if port in owner:
                raise NetworkError(
                    f"switch {name}: {what} port {port} is also used by {owner[port]}; choose "
                    "grpc_port_base and thrift_port_base further apart"
                )
            owner[port] = f"{name} ({what})"
        out[name] = (grpc, thrift)
    return out
