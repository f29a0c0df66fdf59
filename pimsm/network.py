"""A topology as a routed PIM-SM network: one namespace per switch running FRR, one per host.

Namespaces and links come from Mininet (Node in its own namespace, links with htb bandwidth
through testbed.shaping, as in the P4 testbed; netem does not exist here, so a link's
delay_ms is not emulated and is reported in `notes`). Nothing global is touched: every
interface lives inside a namespace this object created, and stop() removes exactly what
start() made, also after an exception, Ctrl-C, SIGTERM or at interpreter exit.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pimsm.addressing import Plan, plan
from pimsm.config import router_configs
from pimsm.frr import CHECK_WORKERS, START_ORDER, FrrError, FrrRouter, kill_pids
from pimsm.timers import Timers
from testbed.failures import Mode, check_mode, silent_command
from testbed.shaping import ShapingError, check_rate, shaped_intf
from testbed.state import alive, start_ticks
from topologies.model import Topology

log = logging.getLogger(__name__)

FailureMode = Mode  # testbed.failures: the same modes as the P4 network
DelayPolicy = Literal["refuse", "ignore"]
DataplaneChoice = Literal["auto", "kernel", "emulated"]
Dataplane = Literal["kernel", "emulated", "none"]


def choose_dataplane(choice: DataplaneChoice = "auto") -> tuple[Dataplane, str]:
    """Who forwards the routers' multicast, and why: the kernel where it has IPv4 multicast
    routing (CONFIG_IP_MROUTE), else pimsm.mroute's emulation where it can run, else nobody
    (pimd speaks PIM, no group is forwarded). Asking for what cannot be had raises."""
    from pimsm import mroute

    if mroute.kernel_routes_multicast():
        if choice == "emulated":
            raise PimNetError(
                "the multicast routing emulation runs only where the kernel has none; "
                "this kernel routes multicast itself (CONFIG_IP_MROUTE)"
            )
        return "kernel", "the kernel's IPv4 multicast routing (CONFIG_IP_MROUTE)"
    if choice == "kernel":
        raise PimNetError(
            "this kernel has no IPv4 multicast routing (CONFIG_IP_MROUTE is not set, no "
            "/proc/net/ip_mr_vif); dataplane='emulated' or 'auto' emulates it"
        )
    why = mroute.missing()
    if why is None:
        return "emulated", (
            "emulated: the kernel has no CONFIG_IP_MROUTE; pimsm.mroute forwards in tc-BPF "
            "and answers pimd's mroute socket (LD_PRELOAD)"
        )
    if choice == "emulated":
        raise PimNetError(f"the multicast routing emulation cannot run here: {why}")
    return "none", (
        "none: the kernel has no IPv4 multicast routing and the emulation cannot run "
        f"({why}); pimd speaks PIM but no router forwards a group"
    )


class PimNetError(RuntimeError):
    pass


@dataclass
class _LinkEnds:
    name: str
    a: str
    a_if: str
    b: str
    b_if: str
    mininet_link: Any


def _mininet() -> tuple[Any, Any, Any]:
    try:
        from mininet.link import Link
        from mininet.node import Node

        intf = shaped_intf()
    except ImportError as e:  # pragma: no cover - depends on the machine
        raise PimNetError("the Mininet Python package is missing (make setup installs it)") from e
    return Node, Link, intf


class PimNetwork:
    """Build, run and tear down the FRR flavour of `topo`.

    Use as a context manager:

        with PimNetwork(topo, bfd=True) as net:
            net.wait_converged()
            p = net.popen("h2", ["python3", "recv.py"])
    """

    def __init__(
        self,
        topo: Topology,
        *,
        timers: Timers | None = None,
        bfd: bool = False,
        prefix: str = "pim",
        run_dir: str | Path | None = None,
        keep_files: bool = False,
        delay: DelayPolicy = "refuse",
        dataplane: DataplaneChoice = "auto",
    ):
        delayed = [lk.name for lk in topo.links if lk.delay_ms]
        if delayed and delay != "ignore":
            raise PimNetError(
                f"links {delayed} have delay_ms, which this machine cannot emulate (no netem); "
                "pass delay='ignore' to run without the delays"
            )
        for lk in topo.links:  # refused here, before anything exists
            try:
                check_rate(lk.bw_mbit, f"topology {topo.name!r}, link {lk.name}")
            except ShapingError as e:
                raise PimNetError(str(e)) from e
        self.topo = topo
        # who forwards multicast: "kernel", "emulated" (pimsm.mroute) or "none"
        self.dataplane, self.dataplane_note = choose_dataplane(dataplane)
        self.timers = timers or Timers()
        self.bfd = bfd
        self.tag = prefix + secrets.token_hex(2)
        self.plan: Plan = plan(topo)
        self.configs = router_configs(topo, self.timers, bfd)
        self._given_dir = run_dir is not None
        self.run_dir = Path(run_dir) if run_dir else None
        self.keep_files = keep_files
        self.nodes: dict[str, Any] = {}
        self.routers: dict[str, FrrRouter] = {}
        self.links: dict[str, _LinkEnds] = {}
        self.notes: list[str] = [f"multicast data plane: {self.dataplane_note}"]
        self._procs: list[subprocess.Popen] = []
        # An open fd per namespace keeps it (and its inode number) ours until stop() is done:
        # a freed namespace's inode can be reused by another user's namespace at once.
        self._netns: dict[str, tuple[int, int]] = {}
        self._started = False
        self._old_sigterm: Any = None
        self._failed: dict[str, FailureMode] = {}

    # -- lifecycle -----------------------------------------------------------------------
    def __enter__(self) -> PimNetwork:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        if self._started:
            raise PimNetError("network already started")
        self._started = True
        atexit.register(self.stop)
        self._trap_sigterm()
        try:
            if self.run_dir is None:
                self.run_dir = Path(tempfile.mkdtemp(prefix=f"pimsm-{self.tag}-"))
            else:
                self.run_dir.mkdir(parents=True, exist_ok=True)
            self.run_dir.chmod(0o755)  # the daemons run as user frr and must reach their dirs
            (self.run_dir / "tag").write_text(self.tag + "\n")  # for clean_run_dir after a crash
            # who owns the run (pid and start time): cleanup leaves a live owner's run alone
            (self.run_dir / "owner").write_text(f"{os.getpid()} {start_ticks(os.getpid())}\n")
            emulation = None
            if self.dataplane == "emulated":
                from pimsm.mroute import MrouteError, build

                try:
                    emulation = build()
                except MrouteError as e:
                    raise PimNetError(str(e)) from e
            self._make_nodes()
            self._make_links()
            self._configure_kernel()
            for name, cfg in self.configs.items():
                node = self.nodes[name]
                r = FrrRouter(name, self.run_dir / name, cfg.files, node.popen, emulation)
                self.routers[name] = r
                r.write_files()
            self._start_routers()
        except BaseException as e:
            log.error("starting the PIM network failed (%s); tearing down", e)
            self.stop()
            raise

    def _start_routers(self, timeout: float = 30.0) -> None:
        """Each step (mrtd, zebra, ..., pimd) started on every router before any is waited
        for: a daemon's start-up overlaps its peers' where one router after the other spent
        seconds per router waiting on a loaded machine. Order holds per router: a step
        starts once the previous one serves on every router."""
        for step in START_ORDER:
            these = [r for r in self.routers.values() if step in r.steps()]
            for r in these:
                r.spawn(step)
            for r in these:
                r.wait_started(step, timeout)

    def stop(self) -> None:
        """Remove everything start() made. Safe to call more than once."""
        if not self._started:
            return
        self._started = False
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop)
        for p in self._procs:
            kill_pids([p.pid])
            with contextlib.suppress(Exception):
                p.wait(2)
        self._procs.clear()
        for r in self.routers.values():
            try:
                r.stop()
            except Exception as e:  # keep tearing down the rest
                log.warning("stopping FRR on %s: %s", r.name, e)
        # anything else still running inside our namespaces (started via cmd(), say), but not
        # the nodes' own shells: deleting the links below still needs them
        shells = {getattr(n, "pid", None) for n in self.nodes.values()}
        kill_pids([p for p in self._pids_in_our_netns() if p not in shells])
        for ends in self.links.values():
            # node.cmd() blocks forever on a dead shell; a namespace that goes away takes its
            # veth ends with it anyway
            if all(self._shell_alive(n) for n in (ends.a, ends.b)):
                with contextlib.suppress(Exception):
                    ends.mininet_link.delete()
        for node in self.nodes.values():
            with contextlib.suppress(Exception):
                node.terminate()
        kill_pids(self._pids_in_our_netns())
        for fd, _ in self._netns.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        self._netns.clear()
        self.links.clear()
        self.nodes.clear()
        self.routers.clear()
        if self.run_dir is not None and not self.keep_files:
            shutil.rmtree(self.run_dir, ignore_errors=True)
        self._restore_sigterm()

    def _shell_alive(self, name: str) -> bool:
        shell = getattr(self.nodes.get(name), "shell", None)
        return shell is not None and shell.poll() is None

    def _trap_sigterm(self) -> None:
        # SIGTERM becomes SystemExit so `with`/finally blocks tear the network down.
        if threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, None):
            return

        def _raise(signum: int, frame: object) -> None:
            raise SystemExit(128 + signum)

        self._old_sigterm = signal.signal(signal.SIGTERM, _raise)

    def _restore_sigterm(self) -> None:
        if self._old_sigterm is not None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self._old_sigterm)
            self._old_sigterm = None

    # -- building ------------------------------------------------------------------------
    def _make_nodes(self) -> None:
        Node, _, _ = _mininet()
        for s in self.topo.switches:
            self.nodes[s.name] = Node(f"{self.tag}-{s.name}", inNamespace=True)
        for h in self.topo.hosts:
            self.nodes[h.name] = Node(f"{self.tag}-{h.name}", inNamespace=True)
        for name, node in self.nodes.items():
            fd = os.open(f"/proc/{node.pid}/ns/net", os.O_RDONLY)
            self._netns[name] = (fd, os.fstat(fd).st_ino)

    def _make_links(self) -> None:
        _, Link, ShapedIntf = _mininet()

        for link in self.topo.links:
            a_if = "eth0" if not self.topo.is_switch(link.a) else f"eth{link.a_port}"
            b_if = "eth0" if not self.topo.is_switch(link.b) else f"eth{link.b_port}"
            if link.delay_ms:
                self.notes.append(f"link {link.name}: delay {link.delay_ms} ms not emulated")
            params = {"bw": link.bw_mbit}
            ml = Link(
                self.nodes[link.a],
                self.nodes[link.b],
                intfName1=a_if,
                intfName2=b_if,
                cls1=ShapedIntf,
                cls2=ShapedIntf,
                params1=params,
                params2=params,
            )
            self.links[link.name] = _LinkEnds(link.name, link.a, a_if, link.b, b_if, ml)

    def _configure_kernel(self) -> None:
        for s in self.topo.switches:
            n = self.nodes[s.name]
            self._sh(
                n,
                "sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 "
                "net.ipv4.conf.default.rp_filter=0 net.ipv4.conf.lo.rp_filter=0",
            )
            self._sh(n, "ip link set lo up")
            for itf in self.plan.interfaces[s.name]:
                self._sh(n, f"sysctl -qw net.ipv4.conf.{itf.name}.rp_filter=0")
                self._sh(n, f"ip link set {itf.name} mtu {self.topo.link_mtu(itf.link)} up")
        for h in self.topo.hosts:
            n = self.nodes[h.name]
            a = self.plan.hosts[h.name]
            _, _, link = self.topo.host_attachment(h.name)
            self._sh(n, f"ip link set eth0 mtu {self.topo.link_mtu(link)}")
            self._sh(n, "ip link set lo up")
            self._sh(n, f"ip addr add {a.address} dev eth0")
            self._sh(n, f"ip addr add {a.contract_ip}/32 dev eth0")
            self._sh(n, "ip link set eth0 up")
            self._sh(n, self._default_route(h.name, "add"))

    def _default_route(self, host: str, verb: str) -> str:
        a = self.plan.hosts[host]
        return f"ip route {verb} default via {a.gateway} dev eth0 src {a.address.ip}"

    def _sh(self, node: Any, command: str) -> str:
        out = node.cmd(command + "; echo __rc=$?")
        body, _, rc = out.rpartition("__rc=")
        if rc.strip() != "0":
            raise PimNetError(f"{node.name}: `{command}` failed: {body.strip()}")
        return body

    # -- running -------------------------------------------------------------------------
    def cmd(self, name: str, command: str) -> str:
        """Run a shell command in a node's namespace; raises on a non-zero exit."""
        return self._sh(self._node(name), command)

    def popen(self, name: str, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen:
        """Start a process in a node's namespace; stop() kills it if it is still running."""
        kwargs.setdefault("stdout", subprocess.DEVNULL)
        kwargs.setdefault("stderr", subprocess.DEVNULL)
        p = self._node(name).popen(list(argv), **kwargs)
        self._procs.append(p)
        return p

    def mroute_env(self, router: str) -> dict[str, str]:
        """Environment for a process in `router`'s namespace that reads its multicast routing
        (`ip mroute show`): the emulation's shim where it is emulated, else nothing."""
        if router not in self.routers:
            raise KeyError(f"no router {router!r}")
        return self.routers[router].mroute_env()

    def multicast_routing_on(self, router: str) -> bool:
        """Whether pimd holds `router`'s mroute socket: the kernel's mc_forwarding, or the
        emulation's table answering with pimd's vifs."""
        if self.dataplane == "kernel":
            return self.cmd(router, "sysctl -n net.ipv4.conf.all.mc_forwarding").strip() == "1"
        if self.dataplane == "emulated":
            from pimsm.mroute import MrouteError, status

            try:
                return status(self.routers[router].mroute_socket).active
            except (OSError, MrouteError):
                return False
        return False

    def node_pid(self, name: str) -> int:
        """The pid of a node's shell: a process in its network namespace."""
        return int(self._node(name).pid)

    def host_ip(self, host: str) -> str:
        return str(self.plan.hosts[host].address.ip)

    def _node(self, name: str) -> Any:
        if name not in self.nodes:
            raise KeyError(f"no node {name!r} in the running network (topology {self.topo.name})")
        return self.nodes[name]

    def process_ids(self) -> list[int]:
        """Every process inside this network's namespaces (routers' daemons, hosts' programs)."""
        return self._pids_in_our_netns()

    def _pids_in_our_netns(self) -> list[int]:
        ours = {ino for _, ino in self._netns.values()}
        me = os.getpid()
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == me:
                continue
            try:
                if os.stat(f"/proc/{entry}/ns/net").st_ino in ours:
                    found.append(int(entry))
            except OSError:
                continue
        return found

    def leftovers(self) -> list[int]:
        """Pids still inside namespaces this network holds, or whose command line names this
        network's tag or run directory (both empty after stop())."""
        found = set(self._pids_in_our_netns())
        marks = [self.tag.encode()] + ([str(self.run_dir).encode()] if self.run_dir else [])
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/cmdline", "rb") as f:
                        cl = f.read()
                except OSError:
                    continue
                if any(m in cl for m in marks):
                    found.add(int(entry))
        return sorted(found)

    # -- convergence ---------------------------------------------------------------------
    def converged(self) -> list[str]:
        """What is not ready yet (empty list: OSPF Full everywhere, every prefix routed,
        PIM neighbours up, the RP reachable, BFD sessions up). The routers are asked at
        once, a few at a time (one vtysh each)."""
        prefixes = {f"{a}/32" for a in self.plan.loopbacks.values()}
        prefixes |= {str(h.address.network) for h in self.plan.hosts.values()}
        prefixes |= {f"{h.contract_ip}/32" for h in self.plan.hosts.values()}
        with ThreadPoolExecutor(CHECK_WORKERS, thread_name_prefix="pimsm-converged") as pool:
            found = pool.map(lambda n: self._router_missing(n, prefixes), self.routers)
            return [m for missing in found for m in missing]

    def _router_missing(self, name: str, prefixes: set[str]) -> list[str]:
        r = self.routers[name]
        dead = r.dead_daemons()
        if dead:
            raise FrrError(f"router {name}: daemons died: {dead} (logs in {r.dir})")
        missing: list[str] = []
        core = [i for i in self.plan.interfaces[name] if i.kind == "core"]
        commands = [
            "show ip ospf neighbor json",
            "show ip route json",
            "show ip pim neighbor json",
            "show ip pim rp-info json",
        ] + (["show bfd peers json"] if self.bfd else [])
        try:
            ospf, routes, pn, rp, *bfd = r.show_json_many(commands)
        except subprocess.TimeoutExpired:  # a daemon too busy to answer: not converged yet
            return [f"{name}: vtysh gave no answer in time"]
        nbrs = ospf.get("neighbors", {})
        full = sum(
            1 for lst in nbrs.values() for n in lst if str(n.get("nbrState", "")).startswith("Full")
        )
        if full < len(core):
            missing.append(f"{name}: OSPF {full}/{len(core)} Full")
        lacking = sorted(prefixes - set(routes))
        if lacking:
            missing.append(f"{name}: no route to {lacking[:3]}")
        have = {i for i, v in pn.items() if isinstance(v, dict) and v}
        want = {i.name for i in core}
        if want - have:
            missing.append(f"{name}: no PIM neighbour on {sorted(want - have)}")
        entries = rp.get(str(self.plan.rp_address), [])
        if not any(e.get("iAmRP") or e.get("outboundInterface") for e in entries):
            missing.append(f"{name}: RP {self.plan.rp_address} not reachable")
        if bfd:
            up = sum(1 for p in bfd[0] if p.get("status") == "up")
            if up < len(core):
                missing.append(f"{name}: BFD {up}/{len(core)} up")
        return missing

    def igmp_groups(self) -> dict[str, int]:
        """Per router with any: the IGMP groups its host-facing interfaces have members of."""
        with ThreadPoolExecutor(CHECK_WORKERS, thread_name_prefix="pimsm-igmp") as pool:
            got = pool.map(
                lambda r: r.show_json_many(["show ip igmp groups json"])[0].get("totalGroups", 0),
                self.routers.values(),
            )
            return {n: int(k) for n, k in zip(self.routers, got, strict=True) if k}

    def wait_igmp_quiet(self, timeout: float) -> bool:
        """Block until no router has an IGMP member (True), or `timeout` passed (False)."""
        end = time.monotonic() + timeout
        while self.igmp_groups():
            if time.monotonic() > end:
                return False
            time.sleep(0.2)
        return True

    def wait_converged(self, timeout: float = 60.0) -> float:
        """Block until converged(); returns the seconds waited. Raises with what is missing."""
        t0 = time.monotonic()
        missing = ["not checked"]
        while time.monotonic() - t0 < timeout:
            missing = self.converged()
            if not missing:
                return time.monotonic() - t0
            time.sleep(0.5)
        raise PimNetError(f"not converged after {timeout}s: {missing}")

    # -- failures ------------------------------------------------------------------------
    def _ends(self, a: str, b: str) -> _LinkEnds:
        for e in self.links.values():
            if {e.a, e.b} == {a, b}:
                return e
        raise KeyError(f"no link between {a!r} and {b!r}")

    def fail_link(self, a: str, b: str, mode: FailureMode = "silent") -> float:
        """Fail the link a-b; returns the time.monotonic() of the failure.

        carrier: both ends go administratively down, so both lose carrier and notice at once
        (as testbed.Network.set_link pulls a cable).
        silent: both ends drop every frame they send (testbed.failures.silent_command: a pfifo
        of length 0 under the link's htb class) while carrier stays up, as with a fault inside
        a WAN path: only protocol timers (OSPF dead interval, or BFD) notice it.
        """
        e = self._ends(a, b)
        if e.name in self._failed:
            raise PimNetError(f"link {e.name} is already failed")
        check_mode(mode)
        ends = ((e.a, e.a_if), (e.b, e.b_if))
        if mode == "carrier":
            cmds = [(end, f"ip link set {itf} down") for end, itf in ends]
        else:
            cmds = [(end, silent_command(itf, on=True, shaped=True)) for end, itf in ends]
        t = time.monotonic()
        for node, c in cmds:
            self.cmd(node, c)
        self._failed[e.name] = mode
        return t

    def switch_links(self, switch: str) -> list[tuple[str, str]]:
        if switch not in self.routers:
            raise KeyError(f"no router {switch!r}")
        return [(e.a, e.b) for e in self.links.values() if switch in (e.a, e.b)]

    def fail_switch(self, switch: str, mode: FailureMode = "silent") -> float:
        """Fail every link of a switch (its neighbours see what a dead box looks like: carrier
        loss, or silence); returns the time of the first link's failure."""
        times = [self.fail_link(a, b, mode) for a, b in self.switch_links(switch)]
        return min(times)

    def restore_switch(self, switch: str) -> float:
        times = [self.restore_link(a, b) for a, b in self.switch_links(switch)]
        return min(times)

    def restore_link(self, a: str, b: str) -> float:
        e = self._ends(a, b)
        mode = self._failed.pop(e.name, None)
        if mode is None:
            raise PimNetError(f"link {e.name} is not failed")
        t = time.monotonic()
        for end, itf in ((e.a, e.a_if), (e.b, e.b_if)):
            if mode == "carrier":
                self.cmd(end, f"ip link set {itf} up")
                if end in self.plan.hosts:
                    # the kernel dropped the host's default route with its interface; a
                    # router's routes come back through zebra, a host has none to do it
                    self.cmd(end, self._default_route(end, "replace"))
            else:
                self.cmd(end, silent_command(itf, on=False, shaped=True))
        return t


def run_owner_alive(run_dir: str | Path) -> bool | None:
    """Whether the process that started the run in `run_dir` still runs (not a zombie); None
    when the run recorded no owner (made before owners were recorded)."""
    try:
        pid_s, ticks_s = (Path(run_dir) / "owner").read_text().split()
        pid, ticks = int(pid_s), int(ticks_s)
    except (OSError, ValueError):
        return None
    return alive(pid, ticks)


def find_run_dirs(base: str | Path | None = None) -> list[Path]:
    """pimsm run directories (with a 'tag' file) directly under `base` (default: the temp
    directory PimNetwork creates them in)."""
    root = Path(base) if base is not None else Path(tempfile.gettempdir())
    try:
        cands = sorted(root.glob("pimsm-*"))
    except OSError:
        return []
    return [d for d in cands if d.is_dir() and (d / "tag").is_file()]


def clean_run_dir(run_dir: str | Path) -> list[int]:
    """After a crash (this process killed with SIGKILL, say): end the processes of the run
    whose run directory this is and remove the directory. A process belongs to the run when
    its command line names the run's unique tag (node shells) or its directory (daemons,
    probes). Returns the pids it signalled."""
    d = Path(run_dir)
    tag_file = d / "tag"
    if not tag_file.is_file():
        raise PimNetError(f"{d} is not a pimsm run directory (no 'tag' file)")
    marks = [tag_file.read_text().strip().encode(), str(d.resolve()).encode()]
    me = os.getpid()
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != me:
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    cl = f.read()
            except OSError:
                continue
            if any(m in cl for m in marks):
                pids.append(int(entry))
    kill_pids(pids)
    shutil.rmtree(d, ignore_errors=True)
    return pids
