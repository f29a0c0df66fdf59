"""Notice link changes made from outside this process (e.g. `python -m experiments.fail`
against a network `make net` owns) and turn them into LinkEvents for the owner's subscribers.

It follows `ip -o monitor link`; on any message about one of the network's switch-side
interfaces it reads the administrative state of every switch-side end of that link (a link
is up when all of them are) and reports the link when that differs from what it last knew.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

IFF_UP = 0x1


def admin_up(intf: str) -> bool | None:
    try:
        return bool(int(Path(f"/sys/class/net/{intf}/flags").read_text(), 16) & IFF_UP)
    except (OSError, ValueError):
        return None  # gone (teardown)


class LinkWatcher:
    def __init__(
        self,
        ends: dict[str, list[str]],
        known: Callable[[str], bool],
        report: Callable[[str, bool], None],
        lock: threading.RLock,
    ) -> None:
        """ends: link name -> its switch-side interfaces; known(link): the state the owner
        believes; report(link, up): called for a change the owner did not make; lock: held
        by the owner while it changes a link, so that a half-made change is never seen."""
        self.lock = lock
        self.ends = ends
        self.by_intf = {i: link for link, intfs in ends.items() for i in intfs}
        self.known = known
        self.report = report
        self.proc: subprocess.Popen[str] | None = None
        self.thread: threading.Thread | None = None

    def start(self) -> int:
        self.proc = subprocess.Popen(
            ["ip", "-o", "monitor", "link"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )
        self.thread = threading.Thread(target=self._run, name="link-watcher", daemon=True)
        self.thread.start()
        return self.proc.pid

    def _run(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            # "12: e1s1-eth2@e1s2-eth2: <BROADCAST,MULTICAST> mtu ..." (Deleted ... on removal)
            parts = line.split(":", 2)
            if len(parts) < 3 or line.startswith("Deleted"):
                continue
            name = parts[1].strip().split("@", 1)[0]
            link = self.by_intf.get(name)
            if link is None:
                continue
            with self.lock:
                states = [admin_up(i) for i in self.ends[link]]
                if None in states:
                    continue
                up = all(states)
                changed = up != self.known(link)
            if changed:
                self.report(link, up)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.thread is not None:
            self.thread.join(timeout=2)
