"""FRR daemons of one router: config files, start in the router's namespace, vtysh, stop.

Everything a router's daemons write lives in its own directory under the run directory:
`<daemon>.conf` (the generated text plus its `log file`), `<daemon>.pid` (-i), `<daemon>.vty`
(--vty_socket), `zserv.api` (-z), `<daemon>.log` (microsecond stamps) and `<daemon>.stdout`
(start-up messages). The daemons run in the foreground as children of this process (not -d), so
their pids are known from the start; they run as the `frr` user, which owns the directory.
vtysh talks to them over the unix sockets from the root namespace.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from linkmon.liveness import realtime
from pimsm.config import with_log_file
from pimsm.mroute import SOCKET_NAME, Build, daemon_argv, shim_env

FRR_DIR = Path("/usr/lib/frr")
VTYSH = shutil.which("vtysh") or "/usr/bin/vtysh"
# mrtd (pimsm.mroute, where the kernel cannot route multicast) first: pimd's mroute socket
# needs it; stop() ends them in reverse order
START_ORDER = ("mrtd", "zebra", "staticd", "bfdd", "ospfd", "pimd")
CHECK_WORKERS = 4  # routers asked at once (a vtysh each) for convergence or state
MROUTE_USERS = ("zebra", "pimd")  # pimd's mroute socket; zebra's (S,G) last-use query

# Starts a command inside the router's namespace; returns the Popen (pid = the daemon's pid).
Spawner = Callable[..., subprocess.Popen]


class FrrError(RuntimeError):
    pass


def frr_available() -> bool:
    return all((FRR_DIR / d).exists() for d in ("zebra", "ospfd", "pimd")) and os.path.exists(VTYSH)


class FrrRouter:
    """The FRR daemons of one router."""

    def __init__(
        self,
        name: str,
        directory: Path,
        files: dict[str, str],
        spawn: Spawner,
        mroute: Build | None = None,
    ):
        self.name = name
        self.dir = directory
        self.files = files
        self._spawn = spawn
        self.mroute = mroute  # the emulated multicast data plane, or the kernel's (None)
        self.procs: dict[str, subprocess.Popen] = {}

    # -- files ---------------------------------------------------------------------------
    def write_files(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        for daemon, text in self.files.items():
            (self.dir / f"{daemon}.conf").write_text(with_log_file(text, self.log_path(daemon)))
        frr = pwd.getpwnam("frr")
        for p in [self.dir, *self.dir.iterdir()]:
            os.chown(p, frr.pw_uid, frr.pw_gid)

    def log_path(self, daemon: str) -> Path:
        return self.dir / f"{daemon}.log"

    def daemons(self) -> list[str]:
        return [d for d in START_ORDER if d in self.files]

    def argv(self, daemon: str) -> list[str]:
        d = self.dir
        return [
            str(FRR_DIR / daemon),
            "-f",
            str(d / f"{daemon}.conf"),
            "-i",
            str(d / f"{daemon}.pid"),
            "--vty_socket",
            str(d),
            "-z",
            str(d / "zserv.api"),
            # until the configuration's own `log file` takes over: stdout (<daemon>.stdout)
            "--log",
            "stdout",
            "--log-level",
            "informational",
        ]

    # -- processes -----------------------------------------------------------------------
    @property
    def mroute_socket(self) -> Path:
        return self.dir / SOCKET_NAME

    def mroute_env(self) -> dict[str, str]:
        """The environment a process of this router needs to reach its multicast routing
        (empty where the kernel routes multicast)."""
        return shim_env(self.mroute, self.mroute_socket) if self.mroute else {}

    def start(self, timeout: float = 15.0) -> None:
        self.write_files()
        for step in self.steps():
            self.spawn(step)
            self.wait_started(step, timeout)

    def steps(self) -> list[str]:
        """What start() starts, in order: the multicast routing emulation (if any) and the
        daemons. A network starts each step on all its routers before waiting for any."""
        return (["mrtd"] if self.mroute is not None else []) + self.daemons()

    def spawn(self, step: str) -> None:
        """Start one step of steps() (files written) without waiting for it."""
        if step == "mrtd":
            assert self.mroute is not None
            argv = daemon_argv(self.mroute, self.mroute_socket, pwd.getpwnam("frr").pw_uid)
            with open(self.dir / "mrtd.log", "wb") as out:
                self.procs["mrtd"] = self._spawn(argv, stdout=out, stderr=subprocess.STDOUT)
            return
        out = open(self.dir / f"{step}.stdout", "wb")  # noqa: SIM115 (kept by Popen)
        kw: dict[str, Any] = {}
        if step in MROUTE_USERS and self.mroute is not None:
            kw["env"] = {**os.environ, **self.mroute_env()}
        try:
            argv = self.argv(step)
            self.procs[step] = self._spawn(argv, stdout=out, stderr=subprocess.STDOUT, **kw)
        finally:
            out.close()

    def wait_started(self, step: str, timeout: float) -> None:
        """Block until a spawned step serves (its socket exists); raise if it died or took
        longer than `timeout`."""
        if step == "mrtd":
            self._wait_mrtd(timeout)
            return
        self._wait_socket(step, timeout)
        if step == "bfdd":  # as the P4 switches' sessions run (linkmon.liveness)
            realtime(self.procs[step].pid)

    def _wait_mrtd(self, timeout: float) -> None:
        log_path = self.dir / "mrtd.log"
        deadline = time.monotonic() + timeout
        while not self.mroute_socket.exists():
            if self.procs["mrtd"].poll() is not None:
                tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-25:])
                raise FrrError(
                    f"router {self.name}: mrtd (multicast routing emulation) exited with "
                    f"{self.procs['mrtd'].returncode}: {tail}"
                )
            if time.monotonic() > deadline:
                raise FrrError(f"router {self.name}: mrtd made no socket in {timeout}s")
            time.sleep(0.02)

    def _wait_socket(self, daemon: str, timeout: float) -> None:
        sock = self.dir / f"{daemon}.vty"
        deadline = time.monotonic() + timeout
        while not sock.exists():
            proc = self.procs[daemon]
            if proc.poll() is not None:
                out = (self.dir / f"{daemon}.stdout").read_text(errors="replace")
                tail = "\n".join(out.splitlines()[-25:])  # whole lines, never cut
                raise FrrError(
                    f"router {self.name}: {daemon} exited with {proc.returncode}: {tail}"
                )
            if time.monotonic() > deadline:
                raise FrrError(f"router {self.name}: {daemon} made no vty socket in {timeout}s")
            time.sleep(0.05)

    def pids(self) -> list[int]:
        return [p.pid for p in self.procs.values()]

    def dead_daemons(self) -> list[str]:
        return [d for d, p in self.procs.items() if p.poll() is not None]

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM every daemon (reverse start order), SIGKILL what is left after timeout."""
        order = [d for d in reversed(START_ORDER) if d in self.procs]
        for d in order:
            _signal(self.procs[d], signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for d in order:
            p = self.procs[d]
            try:
                p.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal(p, signal.SIGKILL)
                p.wait(5)
        self.procs.clear()

    # -- vtysh ---------------------------------------------------------------------------
    def vtysh(self, command: str, daemon: str | None = None, timeout: float = 10.0) -> str:
        argv = [VTYSH, "--vty_socket", str(self.dir)]
        if daemon:
            argv += ["-d", daemon]
        argv += ["-c", command]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        if r.returncode != 0:
            raise FrrError(
                f"router {self.name}: vtysh {command!r} failed ({r.returncode}): "
                f"{(r.stderr or r.stdout).strip()}"
            )
        return r.stdout

    def show_json(self, command: str, daemon: str) -> Any:
        return self._parse(command, self.vtysh(command, daemon))

    def show_json_many(self, commands: Sequence[str], timeout: float = 20.0) -> list[Any]:
        """The JSON of several show commands from one vtysh (connected to every daemon of
        the router; each command goes to the daemon that has it): one process where a command
        each took one per command, which at tens of routers polled for convergence on a loaded
        machine was what the waiting cost. vtysh echoes each command (-E) before its output."""
        argv = [VTYSH, "--vty_socket", str(self.dir), "-E"]
        for c in commands:
            argv += ["-c", c]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        if r.returncode != 0:
            raise FrrError(
                f"router {self.name}: vtysh {list(commands)!r} failed ({r.returncode}): "
                f"{(r.stderr or r.stdout).strip()}"
            )
        lines = r.stdout.splitlines()
        starts: list[int] = []
        for c in commands:  # the echo: "<prompt># <command>", in order
            after = starts[-1] + 1 if starts else 0
            at = next((i for i in range(after, len(lines)) if lines[i].endswith(f"# {c}")), None)
            if at is None:
                raise FrrError(f"router {self.name}: vtysh did not echo {c!r}: {r.stdout[:200]!r}")
            starts.append(at)
        ends = [*starts[1:], len(lines)]
        return [
            self._parse(c, "\n".join(lines[a + 1 : b]))
            for c, a, b in zip(commands, starts, ends, strict=True)
        ]

    def _parse(self, command: str, out: str) -> Any:
        try:
            return json.loads(out) if out.strip() else {}
        except json.JSONDecodeError as e:
            raise FrrError(f"router {self.name}: {command!r} gave no JSON: {out[:200]!r}") from e


def _signal(p: subprocess.Popen, sig: int) -> None:
    if p.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(p.pid, sig)


def kill_pids(pids: Sequence[int], grace: float = 3.0) -> None:
    """SIGTERM, then SIGKILL, exactly these pids (leftovers of a crashed run)."""
    alive = []
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
            alive.append(pid)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace
    while alive and time.monotonic() < deadline:
        alive = [p for p in alive if _exists(p)]
        time.sleep(0.05)
    for pid in alive:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie child of ours still "exists"; reap it if it is ours
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return True
