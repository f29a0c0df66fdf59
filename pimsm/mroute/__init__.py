"""IPv4 multicast routing for pimd where the kernel has none (README.md, "Multicast data
plane").

FRR's pimd programs the kernel's multicast routing (net/ipv4/ipmr.c) through its mroute
socket. A kernel built without CONFIG_IP_MROUTE refuses MRT_INIT, so pimd can speak PIM but no
router forwards the group. Here the kernel's part is emulated below pimd, which runs
unmodified: `shim.c` (LD_PRELOAD into pimd, zebra and `ip`) carries the mroute socket calls
to `mrtd` (`mrtd.c`, `table.c`, `punt.c`), one daemon per router namespace, which forwards in a
tc-BPF program on every vif (`fwd.bpf.c`) and gives pimd the kernel's upcalls. `build()`
compiles them with clang/cc and libbpf (Debian packages; cached by the sources' sha256).
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import socket
import struct
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

SOURCES = Path(__file__).resolve().parent
C_FILES = ("mrt.h", "proto.h", "fwd.bpf.c", "mrtd.h", "mrtd.c", "table.c", "punt.c", "shim.c")
DAEMON_FILES = ("mrtd.c", "table.c", "punt.c")
KERNEL_MROUTE = Path("/proc/net/ip_mr_vif")  # exists when the kernel routes multicast
SOCKET_NAME = "mrt.sock"
ENV_SOCKET = "MRT_EMU_SOCKET"


class MrouteError(RuntimeError):
    """The emulation cannot be built or started here; the message says why."""


@dataclass(frozen=True)
class Build:
    bpf: Path  # the tc program (fwd.bpf.o)
    daemon: Path  # mrtd
    shim: Path  # libmrtshim.so


def kernel_routes_multicast() -> bool:
    """Whether this kernel has IPv4 multicast routing (CONFIG_IP_MROUTE)."""
    return KERNEL_MROUTE.exists()


def _cc() -> str | None:
    return shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")


def missing() -> str | None:
    """Why the emulation cannot run here (None: it can)."""
    if os.geteuid() != 0:
        return "not root (mrtd loads a BPF program and attaches it with tc)"
    if shutil.which("clang") is None:
        return "clang is not installed (make setup installs it)"
    if _cc() is None:
        return "no C compiler (cc, gcc or clang) for mrtd and the shim"
    if not Path("/usr/include/bpf/libbpf.h").exists():
        return "libbpf's headers are missing (Debian 'libbpf-dev', installed by make setup)"
    if not Path("/dev/net/tun").exists():
        return "/dev/net/tun is missing (the register vif is a TAP device)"
    return None


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pimsm-mroute"


def _multiarch_include() -> list[str]:
    cc = _cc()
    if cc is None:
        return []
    r = subprocess.run([cc, "-print-multiarch"], capture_output=True, text=True, check=False)
    d = Path("/usr/include") / r.stdout.strip()
    return [f"-I{d}"] if r.stdout.strip() and d.is_dir() else []


def _run(argv: list[str], what: str) -> None:
    r = subprocess.run(argv, capture_output=True, text=True, check=False)
    if r.returncode != 0:
        tail = "\n".join((r.stderr or r.stdout).strip().splitlines()[-20:])
        raise MrouteError(f"building {what} failed ({' '.join(argv[:2])} ...):\n{tail}")


@functools.cache
def build() -> Build:
    """The compiled emulation (built now, or found in the cache)."""
    why = missing()
    if why is not None:
        raise MrouteError(f"the multicast routing emulation cannot run here: {why}")
    h = hashlib.sha256()
    for name in C_FILES:
        h.update((SOURCES / name).read_bytes())
    out = cache_dir() / h.hexdigest()[:20]
    b = Build(out / "fwd.bpf.o", out / "mrtd", out / "libmrtshim.so")
    if all(p.exists() for p in (b.bpf, b.daemon, b.shim)):
        return b
    cc = _cc()
    assert cc is not None
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="build-", dir=out.parent))
    try:
        inc = [f"-I{SOURCES}", *_multiarch_include()]
        _run(
            ["clang", "-O2", "-g", "-target", "bpf", "-mcpu=v3", "-Wall", *inc, "-c",
             str(SOURCES / "fwd.bpf.c"), "-o", str(tmp / "fwd.bpf.o")],
            "the tc-BPF forwarding program",
        )  # fmt: skip
        _run(
            [
                cc,
                "-O2",
                "-Wall",
                *inc,
                "-o",
                str(tmp / "mrtd"),
                *(str(SOURCES / f) for f in DAEMON_FILES),
                "-lbpf",
            ],
            "mrtd",
        )
        _run(
            [cc, "-O2", "-Wall", "-fPIC", "-shared", *inc, "-o", str(tmp / "libmrtshim.so"),
             str(SOURCES / "shim.c"), "-ldl", "-lpthread"],
            "the mroute socket shim",
        )  # fmt: skip
        for p in tmp.iterdir():
            p.chmod(0o755)
        try:
            tmp.rename(out)
        except OSError:  # built by another process meanwhile
            if not all(p.exists() for p in (b.bpf, b.daemon, b.shim)):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return b


def daemon_argv(b: Build, sock: Path, owner_uid: int | None = None) -> list[str]:
    argv = [str(b.daemon), "--socket", str(sock), "--bpf", str(b.bpf)]
    if owner_uid is not None:
        argv += ["--owner", str(owner_uid)]
    return argv


def shim_env(b: Build, sock: Path) -> dict[str, str]:
    """What a process (pimd, zebra, ip) needs in its environment to use the emulation."""
    return {"LD_PRELOAD": str(b.shim), ENV_SOCKET: str(sock)}


# -- talking to mrtd directly (proto.h) ------------------------------------------------------
OP_DUMP = 6
OP_STATUS = 8
_REQ = struct.Struct("=IIII")
_REP = struct.Struct("=iIII")
_ROUTE = struct.Struct("=IIIIII32I32sQQQQ")
_STATUS = struct.Struct("=IIIIIIQQQ")


@dataclass(frozen=True)
class Status:
    active: bool  # pimd holds the mroute socket
    vifs: int
    mfcs: int
    unresolved: int
    reg_ifindex: int  # the pimreg TAP; 0: no register vif
    do_pim: bool
    event_drops: int
    drop_mtu: int
    drop_unres: int


def _ask(sock: Path, op: int, timeout: float) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.settimeout(timeout)
    try:
        s.connect(str(sock))
        s.send(_REQ.pack(op, 0, 0, 0))
    except OSError:
        s.close()
        raise
    return s


def _reply(s: socket.socket, sock: Path) -> tuple[bytes, bool]:
    rep = s.recv(4096)
    err, _, more, _ = _REP.unpack_from(rep)
    if err:
        raise MrouteError(f"mrtd at {sock} refused the request: {os.strerror(err)}")
    return rep[_REP.size :], bool(more)


def status(sock: Path, timeout: float = 5.0) -> Status:
    """What mrtd at `sock` is doing."""
    with _ask(sock, OP_STATUS, timeout) as s:
        data, _ = _reply(s, sock)
    f = _STATUS.unpack_from(data)
    return Status(bool(f[0]), f[1], f[2], f[3], f[4], bool(f[5]), f[6], f[7], f[8])


@dataclass(frozen=True)
class Route:
    """One MFC entry as mrtd holds it (what `ip mroute show` prints from)."""

    origin: str  # "0.0.0.0" for (*,G)
    group: str
    iif: int  # ifindex; 0: none
    oifs: dict[int, int]  # ifindex -> TTL threshold
    unresolved: bool
    packets: int
    bytes: int
    wrong_if: int


def dump(sock: Path, timeout: float = 5.0) -> list[Route]:
    """mrtd's MFC (empty while no mroute socket is open)."""
    with _ask(sock, OP_DUMP, timeout) as s:
        routes = []
        while True:
            data, more = _reply(s, sock)
            if not more:
                return routes
            f = _ROUTE.unpack_from(data)
            noifs = f[5]
            oif_idx, ttls = f[6 : 6 + 32], f[38]
            routes.append(
                Route(
                    origin=socket.inet_ntoa(struct.pack("=I", f[0])),
                    group=socket.inet_ntoa(struct.pack("=I", f[1])),
                    iif=f[3],
                    oifs={oif_idx[i]: ttls[i] for i in range(noifs)},
                    unresolved=bool(f[4]),
                    packets=f[39],
                    bytes=f[40],
                    wrong_if=f[41],
                )
            )
