"""What a run created, written as it is created, so that `experiments.cleanup` can remove
exactly our objects after a crash and nothing of anybody else's.

One file per run, /run/mcast-testbed/<run-id>.state, one record per line (readable by the
shell fallback scripts/clean-net.sh too):

    owner <pid> <start-ticks>        the process that owns the network
    prefix <prefix>
    node <name> <pid> <start-ticks>  a Mininet node's shell (holds a host's namespace)
    proc <pid> <start-ticks> <what>  a switch process
    iface <name>                     an interface in the root namespace
    bridge <name>                    a Linux bridge
    link <name> <end-a> <end-b> <port-a> <port-b>
                                     a topology link: its switch-side interfaces (root
                                     namespace), "-" for a host's end, and the ends' ports
    hostns <node> <inode> <mac> <peer>  a host's network namespace (nsfs inode), the MAC of
                                     its eth0 and the root-namespace interface at the other
                                     end (both checked before anything in it is killed)

A process is named by pid and its start time in clock ticks since boot (field 22 of
/proc/PID/stat), so a recycled pid is never mistaken for ours.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

STATE_DIR = Path(os.environ.get("MCAST_TESTBED_STATE_DIR", "/run/mcast-testbed"))


def start_ticks(pid: int) -> int | None:
    """A process's start time in ticks since boot; None if it does not exist."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: split after the last ')'
    return int(stat.rsplit(")", 1)[1].split()[19])


def alive(pid: int, ticks: int) -> bool:
    """Is the process that had this pid and start time still running (and not a zombie)?"""
    if start_ticks(pid) != ticks:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def netns_inode(pid: int) -> int | None:
    try:
        return os.stat(f"/proc/{pid}/ns/net").st_ino
    except OSError:
        return None


def netns_map() -> dict[int, list[int]]:
    """nsfs inode of every network namespace that has a process -> its processes."""
    out: dict[int, list[int]] = {}
    for p in Path("/proc").iterdir():
        if p.name.isdigit() and (inode := netns_inode(int(p.name))) is not None:
            out.setdefault(inode, []).append(int(p.name))
    return out


def pids_in_netns(inode: int) -> list[int]:
    """Every process whose network namespace is the one with this nsfs inode."""
    return netns_map().get(inode, [])


class RunState:
    """Appends records for one run; every record is flushed at once (a crash may follow)."""

    def __init__(self, prefix: str, state_dir: Path | None = None) -> None:
        self.dir = state_dir or STATE_DIR
        self.dir.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%S")
        self.run_id = f"{prefix or 'net'}-{stamp}-{os.getpid()}"
        self.path = self.dir / f"{self.run_id}.state"
        self._f = open(self.path, "x", encoding="utf-8")  # noqa: SIM115 (kept open for the run)
        me = os.getpid()
        self.add("owner", me, start_ticks(me))
        self.add("prefix", prefix or "-")

    def add(self, kind: str, *fields: object) -> None:
        self._f.write(" ".join([kind, *(str(f) for f in fields)]) + "\n")
        self._f.flush()
        os.fsync(self._f.fileno())

    def add_process(self, kind: str, pid: int, what: str) -> None:
        ticks = start_ticks(pid)
        if kind == "node":
            self.add("node", what, pid, ticks)
        else:
            self.add("proc", pid, ticks, what)

    def close(self, remove: bool = True) -> None:
        self._f.close()
        if remove:
            self.path.unlink(missing_ok=True)


@dataclass
class Recorded:
    """A state file read back."""

    run_id: str
    path: Path
    owner: tuple[int, int] | None = None
    prefix: str = ""
    nodes: list[tuple[str, int, int]] = field(default_factory=list)
    procs: list[tuple[int, int, str]] = field(default_factory=list)
    ifaces: list[str] = field(default_factory=list)
    bridges: list[str] = field(default_factory=list)
    links: dict[str, tuple[str, str]] = field(default_factory=dict)
    link_ports: dict[str, tuple[int, int]] = field(default_factory=dict)
    cables: dict[str, tuple[str, str]] = field(default_factory=dict)  # link -> its middles
    hostns: list[tuple[str, int, str, str]] = field(default_factory=list)

    @property
    def owner_alive(self) -> bool:
        return self.owner is not None and alive(*self.owner)


def read(path: Path) -> Recorded:
    rec = Recorded(run_id=path.name.removesuffix(".state"), path=path)
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if not parts:
            continue
        kind, rest = parts[0], parts[1:]
        try:
            if kind == "owner":
                rec.owner = (int(rest[0]), int(rest[1]))
            elif kind == "prefix":
                rec.prefix = "" if rest[0] == "-" else rest[0]
            elif kind == "node":
                rec.nodes.append((rest[0], int(rest[1]), int(rest[2])))
            elif kind == "proc":
                rec.procs.append((int(rest[0]), int(rest[1]), " ".join(rest[2:])))
            elif kind == "iface":
                rec.ifaces.append(rest[0])
            elif kind == "bridge":
                rec.bridges.append(rest[0])
            elif kind == "link":
                rec.links[rest[0]] = (rest[1], rest[2])
                if len(rest) >= 5:  # older files: no ports (their names end in -eth<port>)
                    rec.link_ports[rest[0]] = (int(rest[3]), int(rest[4]))
            elif kind == "cable":
                rec.cables[rest[0]] = (rest[1], rest[2])
            elif kind == "hostns":
                rec.hostns.append((rest[0], int(rest[1]), rest[2], rest[3]))
        except (IndexError, ValueError):
            continue  # a line cut short by a crash: skip it, keep the rest
    return rec


def runs(state_dir: Path | None = None) -> list[Recorded]:
    d = state_dir or STATE_DIR
    if not d.is_dir():
        return []
    return [read(p) for p in sorted(d.glob("*.state"))]
