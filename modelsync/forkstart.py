"""Receivers started by forking a process that has modelsync imported already, each child
entering its host's network namespace, instead of a new interpreter per receiver.

A new `python -m modelsync receive` spends 0.3-0.4 s of CPU importing before it listens
(pydantic, safetensors, the package's modules); a round of 128 GPU hosts paid 40-50
CPU-seconds for that alone on a 2-core machine. Here one fork server per launching process
(`python -m modelsync.forkstart`, a fresh single-threaded interpreter that imports what
`modelsync receive` needs once) forks each receiver; the child joins the network namespace
of a process of its host (setns(2)), starts a session of its own, writes stdout and stderr
to its log and runs the same command line `python -m modelsync receive` would.

    proc = spawn_in_netns(host_pid, ["receive", "--manifest", ...], log_path, cwd)
    proc.poll(), proc.wait(timeout), proc.kill(), proc.pid     # as subprocess.Popen's

The server reads one request per line on its stdin (JSON: id, netns, argv, log, cwd) and
answers on its stdout `started ID PID` (or `failed ID WHY`), then `exit PID CODE` when it
has reaped the child. When its stdin closes (the launcher ended or died) it stops its
children (SIGTERM), reaps them and ends. Root only (setns into another network namespace);
Linux only.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import gc
import json
import os
import select
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO

CLONE_NEWNET = 0x40000000
# imported once by the server: what `modelsync receive` needs
PRELOAD = ("modelsync.cli", "modelsync.receiver", "modelsync.manifest", "modelsync.loadcheck")


# -- the server ------------------------------------------------------------------------------
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def _setns(pid: int) -> None:
    fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY)
    try:
        if _libc().setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns into the network namespace of pid {pid}: {os.strerror(err)}")
    finally:
        os.close(fd)


def _child(req: dict, keep: list[int]) -> None:
    """In the forked child (never returns): the host's namespace, a session and a log of
    its own, then the command line as modelsync's `main` runs it."""
    code = 1
    try:
        out = os.open(req["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(out, 1)
        os.dup2(out, 2)
        for fd in (out, null, *keep):
            if fd > 2:  # the server's pipes, unless they were 0-2 (replaced above)
                with contextlib.suppress(OSError):
                    os.close(fd)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)  # as a new interpreter's
        os.setsid()
        _setns(int(req["netns"]))
        os.chdir(req["cwd"])
        from modelsync.cli import main

        code = main(list(req["argv"]))
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    except BaseException as e:  # said in the log, as a failing interpreter would
        with contextlib.suppress(Exception):
            print(f"modelsync: {type(e).__name__}: {e}", file=sys.stderr)
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def serve(inp: IO[str], out: IO[str]) -> None:
    """Fork a child per request line until `inp` closes; report starts and exits. `inp`
    closing means the launcher is gone (ended, crashed or killed): its receivers are
    stopped (SIGTERM) and reaped. Ctrl-C is the launcher's to handle (it stops them)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    keep = [inp.fileno(), out.fileno()]
    children: set[int] = set()

    def say(line: str) -> None:
        out.write(line + "\n")
        out.flush()

    def reap() -> None:
        for pid in list(children):
            with contextlib.suppress(ChildProcessError):
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    children.discard(pid)
                    say(f"exit {pid} {os.waitstatus_to_exitcode(status)}")

    say("ready")
    fd, pending, open_ = inp.fileno(), b"", True
    while open_:
        ready, _, _ = select.select([fd], [], [], 0.05)
        reap()
        if not ready:
            continue
        data = os.read(fd, 65536)
        open_ = bool(data)
        *lines, pending = (pending + data).split(b"\n")
        for line in lines:
            try:
                req = json.loads(line)
                rid = int(req["id"])
            except (ValueError, KeyError, TypeError) as e:
                say(f"failed -1 request unreadable: {e}")
                continue
            try:
                pid = os.fork()
            except OSError as e:
                say(f"failed {rid} {e}")
                continue
            if pid == 0:
                _child(req, keep)
            children.add(pid)
            say(f"started {rid} {pid}")
    for pid in children:  # our launcher is gone: nobody would stop its receivers
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        children.discard(pid)
        with contextlib.suppress(OSError, ValueError):
            say(f"exit {pid} {os.waitstatus_to_exitcode(status)}")


# -- the launcher's side -----------------------------------------------------------------------
class ForkServer:
    """The fork server of this process (started on first use) and what it reported."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "modelsync.forkstart"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
            cwd=str(Path(__file__).resolve().parents[1]),
        )  # its stderr is ours
        assert self.proc.stdout is not None
        first = self.proc.stdout.readline().strip()
        if first != "ready":
            raise OSError(f"modelsync fork server did not start: {first or 'no word from it'}")
        self._cv = threading.Condition()
        self._next = 0
        self._started: dict[int, int | str] = {}  # request id -> pid, or why it failed
        self.exits: dict[int, int] = {}  # pid -> exit code
        threading.Thread(target=self._read, name="modelsync-forkstart", daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            words = line.split(maxsplit=2)
            with self._cv:
                if len(words) == 3 and words[0] == "started":
                    self._started[int(words[1])] = int(words[2])
                elif len(words) == 3 and words[0] == "exit":
                    self.exits[int(words[1])] = int(words[2])
                elif len(words) == 3 and words[0] == "failed":
                    self._started[int(words[1])] = words[2].strip()
                self._cv.notify_all()
        with self._cv:  # the server ended: nothing more will be reported
            self._cv.notify_all()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def spawn(self, netns_pid: int, argv: list[str], log: Path, cwd: Path) -> ForkedProcess:
        with self._cv:
            rid, self._next = self._next, self._next + 1
            req = {"id": rid, "netns": netns_pid, "argv": argv, "log": str(log), "cwd": str(cwd)}
            assert self.proc.stdin is not None
            self.proc.stdin.write(json.dumps(req) + "\n")
            self.proc.stdin.flush()
            while rid not in self._started and self.alive():
                self._cv.wait(1.0)
            got = self._started.pop(rid, None)
        if not isinstance(got, int):
            raise OSError(f"modelsync fork server could not start {argv[:1]}: {got or 'it ended'}")
        return ForkedProcess(self, got, argv)

    def wait_exit(self, pid: int, timeout: float | None) -> int | None:
        with self._cv:
            self._cv.wait_for(lambda: pid in self.exits or not self.alive(), timeout)
            return self.exits.get(pid)


class ForkedProcess:
    """A forked receiver with the part of subprocess.Popen's interface the launcher uses."""

    def __init__(self, server: ForkServer, pid: int, argv: list[str]) -> None:
        self.server = server
        self.pid = pid
        self.args = argv

    @property
    def returncode(self) -> int | None:
        return self.server.exits.get(self.pid)

    def poll(self) -> int | None:
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        code = self.server.wait_exit(self.pid, timeout)
        if code is None:
            raise subprocess.TimeoutExpired(self.args, timeout or 0.0)
        return code

    def send_signal(self, sig: int) -> None:
        if self.returncode is None:  # not reaped yet: the pid is still this child's
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)


_server: ForkServer | None = None
_lock = threading.Lock()


def spawn_in_netns(netns_pid: int, argv: list[str], log: Path, cwd: Path) -> ForkedProcess:
    """`python -m modelsync ARGV` forked by this process's fork server into the network
    namespace of process `netns_pid` (a host's shell), stdout and stderr appended to `log`."""
    global _server
    with _lock:
        if _server is None or not _server.alive():
            _server = ForkServer()
        server = _server
    return server.spawn(netns_pid, list(argv), log, cwd)


def main() -> int:
    for name in PRELOAD:
        __import__(name)
    # what is imported stays: out of the collector's sight, so that no child's collections
    # walk (and copy-on-write touch) the modules every receiver shares with this server
    gc.freeze()
    serve(sys.stdin, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
