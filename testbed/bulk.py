"""A network's links and hosts made in a few batches instead of command by command.

Mininet makes each link with several commands, and configures each interface and host with
more, every one a round trip to a node's shell: 94 s to bring up 129 hosts, 49 switches and
179 links here, most of it in those round trips. Here the kernel work is done by few
processes: one `ip -batch` for every veth pair (addresses, MTU, a host's end created right in
its namespace) and the cables' middles, one `tc -batch` for the htb of every end in the root
namespace (and the cables' redirects), one `ethtool` per root-namespace end in one shell, and
one command line per host (its sysctls, offloads, addresses, route, neighbour and htb),
sent to every host's shell at once and collected afterwards.

Mininet still knows every link and interface (its CLI, `node.intfs`): `PrebuiltLink` and
`PrebuiltIntf` give it the objects and do nothing in the kernel, not even at teardown,
where the network deletes its root-namespace ends in one `ip -batch` (a veth pair goes with
either end; a host's end goes with its namespace).
"""

from __future__ import annotations

import contextlib
import functools
import shlex
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from testbed.shaping import CLASS, htb_commands

OFFLOADS = ("rx", "tx", "sg", "tso", "gso", "gro")
NETEM_HANDLE = "10:"  # under the htb class, as Mininet puts it


class BulkError(RuntimeError):
    """A batch the kernel refused; the message has the tool's own words."""


@dataclass(frozen=True)
class End:
    """One end of a link: its interface, MAC, and the namespace it lives in."""

    intf: str
    mac: str
    netns_pid: int | None = None  # a host's namespace (by a process in it); None: the root's

    @property
    def in_root(self) -> bool:
        return self.netns_pid is None


@dataclass(frozen=True)
class LinkSpec:
    a: End
    b: End
    mtu: int
    bw_mbit: float
    delay_ms: float = 0.0  # > 0: netem under the htb class (where the kernel has netem)
    middles: tuple[str, str] | None = None  # a cable's middles (testbed.cable), else None


# -- the command lines --------------------------------------------------------------------------
def _add_pair(x: End, y_name: str, y_mac: str | None, mtu: int, y_pid: int | None) -> str:
    """`ip -batch` line for a veth pair x <-> y, each end made in its own namespace."""
    first = f"link add name {x.intf} address {x.mac} mtu {mtu}"
    if x.netns_pid is not None:
        first += f" netns {x.netns_pid}"
    peer = f"peer name {y_name}" + (f" address {y_mac}" if y_mac else "") + f" mtu {mtu}"
    if y_pid is not None:
        peer += f" netns {y_pid}"
    return f"{first} type veth {peer}"


def ip_lines(specs: Iterable[LinkSpec]) -> list[str]:
    """Every veth pair (a cable: two, end to middle), then every root-namespace end up."""
    add: list[str] = []
    up: list[str] = []
    for s in specs:
        if s.middles is None:
            add.append(_add_pair(s.a, s.b.intf, s.b.mac, s.mtu, s.b.netns_pid))
            up += [f"link set dev {e.intf} up" for e in (s.a, s.b) if e.in_root]
        else:
            for end, mid in ((s.a, s.middles[0]), (s.b, s.middles[1])):
                add.append(_add_pair(end, mid, None, s.mtu, None))
                up.append(f"link set dev {mid} up")
                if end.in_root:
                    up.append(f"link set dev {end.intf} up")
    return add + up


def shaping_lines(intf: str, bw_mbit: float, delay_ms: float = 0.0) -> list[str]:
    """`tc -batch` lines of one end: htb at the link's rate (testbed.shaping), netem under
    it for a delay."""
    lines = [(c % ("", intf)).strip() for c in htb_commands(bw_mbit, f"interface {intf}")]
    if delay_ms:
        lines.append(
            f"qdisc add dev {intf} parent {CLASS} handle {NETEM_HANDLE} netem delay {delay_ms:g}ms"
        )
    return lines


def redirect_lines(mid_a: str, mid_b: str) -> list[str]:
    """A cable's middles joined (testbed.cable): whatever enters one leaves by the other."""
    out = []
    for src, dst in ((mid_a, mid_b), (mid_b, mid_a)):
        out += [
            f"qdisc add dev {src} clsact",
            f"filter add dev {src} ingress protocol all u32 match u32 0 0 "
            f"action mirred egress redirect dev {dst}",
        ]
    return out


def root_tc_lines(specs: Iterable[LinkSpec]) -> list[str]:
    out = []
    for s in specs:
        for e in (s.a, s.b):
            if e.in_root:
                out += shaping_lines(e.intf, s.bw_mbit, s.delay_ms)
        if s.middles is not None:
            out += redirect_lines(*s.middles)
    return out


def root_ifaces(specs: Iterable[LinkSpec]) -> list[str]:
    """The interfaces these links have in the root namespace."""
    out = []
    for s in specs:
        out += [e.intf for e in (s.a, s.b) if e.in_root]
        out += list(s.middles or ())
    return out


def host_command(
    end: End, spec: LinkSpec, addresses: list[str], routes: list[str], neighbours: list[str]
) -> str:
    """One shell line that configures a host's end (its eth0) inside the host: IPv6 off,
    offloads off, loopback, the interface up with `addresses`, `routes` and `neighbours`
    (`ip` words each), its htb; it prints CONFIGURED when every step worked."""
    sysctls = " ".join(f"net.ipv6.conf.{i}.disable_ipv6=1" for i in ("all", "default", end.intf))
    ip = ["link set dev lo up", f"link set dev {end.intf} up"]
    ip += [f"addr add {a} dev {end.intf}" for a in addresses]
    ip += [f"route replace {r} dev {end.intf}" for r in routes]
    ip += [f"neigh replace {n} dev {end.intf} nud permanent" for n in neighbours]
    tc = shaping_lines(end.intf, spec.bw_mbit, spec.delay_ms)
    return " && ".join(
        [
            f"sysctl -q -w {sysctls}",
            f"{{ ethtool -K {end.intf} {' '.join(f'{o} off' for o in OFFLOADS)} >/dev/null "
            "2>&1 || true; }",
            f"ip -batch - <<< {_ansi(ip)}",
            f"tc -batch - <<< {_ansi(tc)}",
            "echo CONFIGURED",
        ]
    )


def _ansi(lines: list[str]) -> str:
    """Lines as one bash word ($'...'), for a here-string on a single command line."""
    body = "\\n".join(line.replace("\\", "\\\\").replace("'", "\\'") for line in lines)
    return f"$'{body}\\n'"


# -- running them -----------------------------------------------------------------------------
def run_batch(tool: str, lines: list[str]) -> None:
    """`ip -batch -` or `tc -batch -` on these lines; BulkError with the tool's own words."""
    if not lines:
        return
    r = subprocess.run(
        [tool, "-batch", "-"], input="\n".join(lines) + "\n", capture_output=True, text=True,
        check=False,
    )  # fmt: skip
    if r.returncode != 0:
        raise BulkError(f"{tool} -batch: {r.stderr.strip() or 'failed without a message'}")


def delete_ifaces(names: Iterable[str]) -> None:
    """Delete these root-namespace interfaces in one `ip -batch -force` (one that is gone
    already is no error)."""
    present = [n for n in names if Path(f"/sys/class/net/{n}").exists()]
    if present:
        subprocess.run(
            ["ip", "-force", "-batch", "-"], input="".join(f"link del dev {n}\n" for n in present),
            capture_output=True, text=True, check=False,
        )  # fmt: skip


def configure_root_ends(names: list[str]) -> None:
    """Offloads off (one shell, one ethtool each) and IPv6 off on root-namespace ends."""
    if not names:
        return
    off = " ".join(f"{o} off" for o in OFFLOADS)
    script = "; ".join(f"ethtool -K {shlex.quote(n)} {off} >/dev/null 2>&1" for n in names)
    subprocess.run(["sh", "-c", script], check=False)
    for n in names:
        with contextlib.suppress(OSError):  # a kernel without IPv6 has nothing to turn off
            Path(f"/proc/sys/net/ipv6/conf/{n}/disable_ipv6").write_text("1")


def run_in_hosts(commands: dict[Any, str]) -> dict[Any, str]:
    """Send each Mininet node its command line at once, then collect every output: the
    hosts work in parallel, not one round trip after another."""
    for node, cmd in commands.items():
        node.sendCmd(cmd)
    return {node: node.waitOutput() for node in commands}


# -- what Mininet gets ------------------------------------------------------------------------
@functools.cache
def prebuilt_link() -> type:
    """Mininet's Link whose interfaces exist already (made by the batches above): it makes
    none, configures none and deletes none (imported on first use: no Mininet needed to
    load this module)."""
    from mininet.link import Intf, Link

    class PrebuiltIntf(Intf):
        def config(self, **params: Any) -> dict[str, Any]:
            return {}  # the batches configured it

        def delete(self) -> None:
            self.node.delIntf(self)  # the network deletes the kernel's side in one batch
            self.link = None

    class PrebuiltLink(Link):
        def __init__(self, node1: Any, node2: Any, **params: Any) -> None:
            params.setdefault("cls1", PrebuiltIntf)
            params.setdefault("cls2", PrebuiltIntf)
            super().__init__(node1, node2, **params)

        @classmethod
        def makeIntfPair(cls, *args: Any, **kwargs: Any) -> None:  # Mininet's name
            return None

    return PrebuiltLink
