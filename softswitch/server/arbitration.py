"""Client arbitration (P4Runtime spec 5.3, as p4lang/PI does it for BMv2): per device and the
default role, the connected client with the highest election_id is the primary; only it may
write, set the pipeline, send PacketOut and receive PacketIn. Whenever the primary changes,
every client with an election id hears a MasterArbitrationUpdate: OK for the primary,
ALREADY_EXISTS for backups, NOT_FOUND for all when no primary is left."""

from __future__ import annotations

import threading
from collections.abc import Hashable

from finsy.proto import U128, p4r, rpc_status

from softswitch.server.errors import CODES, error

Notice = tuple[Hashable, p4r.StreamMessageResponse]


class Arbiter:
    def __init__(self, device_id: int) -> None:
        self.device_id = device_id
        self._lock = threading.Lock()
        self._clients: dict[Hashable, int | None] = {}  # stream -> election id (None: unset)
        self._primary: Hashable | None = None

    def arbitrate(self, stream: Hashable, upd: p4r.MasterArbitrationUpdate) -> list[Notice]:
        """Handle one MasterArbitrationUpdate; raises SwitchError when the stream must end."""
        if upd.device_id != self.device_id:
            raise error(
                "NOT_FOUND", f"unknown device id {upd.device_id} (this is {self.device_id})"
            )
        if upd.HasField("role") and upd.role.name:
            raise error("UNIMPLEMENTED", f"role {upd.role.name!r}: only the default role exists")
        eid = U128.decode(upd.election_id) if upd.HasField("election_id") else None
        with self._lock:
            if eid is not None:
                for other, oid in self._clients.items():
                    if other is not stream and oid == eid:
                        raise error(
                            "INVALID_ARGUMENT", f"election id {eid} is used by another client"
                        )
            previous = self._primary
            self._clients[stream] = eid
            self._elect()
            if self._primary is previous:
                return [(stream, self._notice(stream))]  # only the sender hears its status
            return self._notify_all()

    def remove(self, stream: Hashable) -> list[Notice]:
        with self._lock:
            if self._clients.pop(stream, "absent") == "absent":
                return []
            previous = self._primary
            self._elect()
            return self._notify_all() if self._primary is not previous else []

    def is_primary(self, election_id: p4r.Uint128 | None) -> bool:
        """Whether a request carrying election_id comes from the current primary."""
        if election_id is None:
            return False
        eid = U128.decode(election_id)
        with self._lock:
            return self._primary is not None and self._clients.get(self._primary) == eid

    def primary(self) -> Hashable | None:
        with self._lock:
            return self._primary

    def clients(self) -> list[Hashable]:
        with self._lock:
            return list(self._clients)

    def _elect(self) -> None:
        ranked = [(eid, s) for s, eid in self._clients.items() if eid is not None]
        self._primary = max(ranked, key=lambda x: x[0])[1] if ranked else None

    def _notice(self, stream: Hashable) -> p4r.StreamMessageResponse:
        upd = p4r.MasterArbitrationUpdate(device_id=self.device_id)
        if self._primary is None:
            code, msg = CODES["NOT_FOUND"], "no primary"
            known = [e for e in self._clients.values() if e is not None]
            eid = max(known) if known else None
        else:
            eid = self._clients[self._primary]
            if stream is self._primary:
                code, msg = CODES["OK"], "primary"
            else:
                code, msg = CODES["ALREADY_EXISTS"], "backup: another client is primary"
        if eid is not None:
            upd.election_id.CopyFrom(U128.encode(eid))
        upd.status.CopyFrom(rpc_status.Status(code=code, message=msg))
        return p4r.StreamMessageResponse(arbitration=upd)

    def _notify_all(self) -> list[Notice]:
        return [(s, self._notice(s)) for s, eid in self._clients.items() if eid is not None]
