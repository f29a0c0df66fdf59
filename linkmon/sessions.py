"""The BFD sessions of a switch in a process of their own, for a switch whose own process is
busy forwarding (softswitch in Python: its forwarding thread holds the interpreter's lock for
whole batches, and on a loaded machine a session thread waiting for it misses its packets and
takes a healthy link down). The child runs `linkmon.liveness.Liveness` under SCHED_FIFO;
parent and child talk in lines over a pipe each way:

    parent -> child   "carrier PORT 0|1"
    child -> parent   "ready"   then   "state PORT OLD NEW TIME_NS"   (State names, wall ns)

`SessionProcess` has the parent's side of `Liveness`'s interface (start, set_carrier, states,
stop) and reports each change with the child's own time of it. The child ends with its
parent (PR_SET_PDEATHSIG) or when its input closes.

    python -m linkmon.sessions --interval-ms 50 --multiplier 3 -i 2@s1-eth2 -i 3@s1-eth3
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import logging
import subprocess
import sys
import threading
from collections.abc import Callable

from linkmon.bfd import State, Timers

log = logging.getLogger("linkmon.sessions")

PR_SET_PDEATHSIG = 1
SIGTERM = 15
OnChange = Callable[[int, State, State, int], None]  # port, old, new, wall-clock ns


class SessionProcess:
    def __init__(self, ports: dict[int, str], timers: Timers, on_change: OnChange) -> None:
        self.ports = dict(ports)
        self.timers = timers
        self.on_change = on_change
        self._states = {p: State.DOWN for p in ports}
        self._lock = threading.Lock()
        self.proc: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "linkmon.sessions"]
        cmd += ["--interval-ms", f"{self.timers.interval_ms:g}"]
        cmd += ["--multiplier", str(self.timers.multiplier)]
        return cmd + [a for p, i in sorted(self.ports.items()) for a in ("-i", f"{p}@{i}")]

    def start(self) -> None:
        """Returns once the child has opened every port (OSError, with its words, if not)."""
        self.proc = subprocess.Popen(
            self.command(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )  # its stderr is ours: nothing it says there can fill a pipe and stall it
        assert self.proc.stdout is not None
        first = self.proc.stdout.readline().strip()
        if first != "ready":
            self.stop()
            raise OSError(f"BFD sessions process did not start: {first or 'no word from it'}")
        self._reader = threading.Thread(target=self._read, name="bfd-sessions", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            words = line.split()
            try:
                if len(words) != 5 or words[0] != "state":
                    raise ValueError(line)
                port, old, new = int(words[1]), State[words[2]], State[words[3]]
                t = int(words[4])
            except (ValueError, KeyError):  # one bad line must not end the reading
                log.warning("BFD sessions process said something unreadable: %r", line)
                continue
            with self._lock:
                self._states[port] = new
            try:
                self.on_change(port, old, new, t)
            except Exception:
                log.exception("port %d: session listener failed", port)

    def states(self) -> dict[int, State]:
        with self._lock:
            return dict(self._states)

    def set_carrier(self, port: int, up: bool) -> None:
        if self.proc is None or self.proc.stdin is None or port not in self.ports:
            return
        with contextlib.suppress(OSError, ValueError):  # the child is gone: nothing to tell
            self.proc.stdin.write(f"carrier {port} {int(up)}\n")
            self.proc.stdin.flush()

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        with contextlib.suppress(OSError, ValueError):
            if proc.stdin is not None:
                proc.stdin.close()  # the child ends when its input closes
        try:
            proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if self._reader is not None:
            self._reader.join(timeout=2)
        if proc.stdout is not None:
            proc.stdout.close()


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m linkmon.sessions",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument(
        "-i",
        "--interface",
        action="append",
        default=[],
        metavar="PORT@IFACE",
        help="a port to run a BFD session on (repeat for each)",
    )
    ap.add_argument("--interval-ms", type=float, default=50.0, help="BFD transmit interval (50 ms)")
    ap.add_argument("--multiplier", type=int, default=3, help="BFD detection multiplier (3)")
    return ap


def main(argv: list[str] | None = None) -> int:
    from linkmon.liveness import Liveness

    args = parser().parse_args(argv)
    with contextlib.suppress(OSError, AttributeError):  # end with the parent
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, SIGTERM)
    ports = {}
    for spec in args.interface:
        num, _, iface = spec.partition("@")
        ports[int(num)] = iface
    out_lock = threading.Lock()

    def said(port: int, old: State, new: State) -> None:
        import time

        with out_lock:
            print(f"state {port} {old.name} {new.name} {time.time_ns()}", flush=True)

    try:
        lv = Liveness(ports, Timers(args.interval_ms, args.multiplier), said)
    except OSError as e:
        print(f"error: {e}", flush=True)
        return 2
    print("ready", flush=True)  # before any session can change and say so
    lv.start()
    for line in sys.stdin:  # until the parent closes our input (or dies)
        words = line.split()
        if len(words) == 3 and words[0] == "carrier":
            lv.set_carrier(int(words[1]), words[2] == "1")
    lv.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
