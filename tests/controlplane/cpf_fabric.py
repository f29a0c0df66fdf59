"""An in-memory stand-in for controlplane.client.Fabric, for unit tests of the Controller's
logic only (what it writes, in which order, its roll-back). It applies updates to dicts
with P4Runtime's rules (INSERT of an existing key, MODIFY/DELETE of a missing key fail), so
ordering mistakes show. The real client is exercised against softswitch processes in
test_integration.py."""

from __future__ import annotations

import time

from controlplane.client import BatchWriteError, WriteTiming
from controlplane.entities import Entity, Update


class MemoryFabric:
    def __init__(self, switches: list[str]) -> None:
        self.state: dict[str, dict[tuple, Entity]] = {s: {} for s in switches}
        self.log: list[tuple[str, Update]] = []
        self.calls: list[dict[str, int]] = []
        self.fail_on: tuple[str, int] | None = None  # (switch, n-th update to refuse)

    async def write_all(self, per_switch: dict[str, list[Update]]) -> dict[str, WriteTiming]:
        self.calls.append({s: len(u) for s, u in per_switch.items()})
        ok: dict[str, WriteTiming] = {}
        errs: list[BatchWriteError] = []
        for sw, ups in per_switch.items():
            t0 = time.perf_counter()
            applied: list[Update] = []
            for i, u in enumerate(ups):
                reason = self._apply(sw, u, i)
                if reason:
                    errs.append(BatchWriteError(sw, [(u, reason)], applied))
                    break
                applied.append(u)
            else:
                ok[sw] = WriteTiming(sw, len(ups), t0, time.perf_counter())
        if errs:
            errs[0].others = errs[1:]
            errs[0].results = ok
            raise errs[0]
        return ok

    def _apply(self, sw: str, u: Update, i: int) -> str | None:
        if self.fail_on == (sw, i):
            self.fail_on = None
            return "RESOURCE_EXHAUSTED: table full (injected)"
        st = self.state[sw]
        k = u.entity.key
        if u.kind == "INSERT" and k in st:
            return "ALREADY_EXISTS"
        if u.kind in ("MODIFY", "DELETE") and k not in st:
            return "NOT_FOUND"
        if u.kind == "DELETE":
            del st[k]
        else:
            st[k] = u.entity
        self.log.append((sw, u))
        return None

    def entities(self, sw: str) -> set[Entity]:
        return set(self.state[sw].values())
