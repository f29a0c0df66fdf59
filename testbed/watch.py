"""Notice link changes made from outside this process (e.g. `python -m experiments.fail`
against a network `make net` owns) and turn them into LinkEvents for the owner's subscribers.

It follows the kernel's link messages (linkmon.netlink); on any message about one of the
network's switch-side interfaces it takes the administrative state of every switch-side end
of that link (a link is up when all of them are) and reports the link when that differs from
what it last knew.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from linkmon.netlink import LinkState, LinkWatch, dump

IFF_UP = 0x1


def admin_up_now(intf: str) -> bool | None:
    """IFF_UP of an interface of this namespace as the kernel has it now (None: gone)."""
    try:
        return bool(int(Path(f"/sys/class/net/{intf}/flags").read_text(), 16) & IFF_UP)
    except (OSError, ValueError):
        return None


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
        self.admin: dict[str, bool] = {}  # interface -> administratively up, as last heard
        self.watch = LinkWatch(self._changes, name="link-watcher")

    def start(self) -> None:
        self.watch.start()  # subscribed first, then the current state: nothing falls between
        for name, s in dump(self.by_intf).items():
            self.admin.setdefault(name, s.admin_up)  # a message already heard is newer

    def _changes(self, changes: list[LinkState]) -> None:
        touched = []
        for c in changes:
            link = self.by_intf.get(c.name)
            if link is None:
                continue
            if c.deleted:
                self.admin.pop(c.name, None)  # gone (teardown): no state to report
            else:
                self.admin[c.name] = c.admin_up
            touched.append(link)
        for link in dict.fromkeys(touched):
            with self.lock:
                # The messages of an owner's change (both ends of a link) may arrive split
                # over two batches: with only the first end heard, the link would look half
                # changed and be reported wrongly. Under the owner's lock its change is whole,
                # so the kernel's state now is the one to compare.
                for i in self.ends[link]:
                    now = admin_up_now(i)
                    if now is not None and i in self.admin:
                        self.admin[i] = now
                states = [self.admin.get(i) for i in self.ends[link]]
                if None in states:
                    continue
                up = all(states)
                changed = up != self.known(link)
            if changed:
                self.report(link, up)

    def stop(self) -> None:
        self.watch.stop()
