"""What the P4Runtime server (softswitch/server/) needs of an execution backend, as typing
Protocols. The Python core (softswitch/core/, `PythonBackend` in softswitch/core/backend.py)
implements them; another backend (one that runs the program elsewhere, e.g. in the kernel)
implements the same three and is handed to `server.device.Device(backend=...)`.

- `Backend` turns a device config (the bytes of SetForwardingPipelineConfig) into a
  `LoadedProgram`, and a loaded program into a fresh `SwitchBackend` with empty state.
- `SwitchBackend` is one switch instance: tables, packet replication engine, externs and the
  data plane. Every rejected request raises `softswitch.entries.SwitchError` with the
  P4Runtime code and a message naming the entity at fault; values are the types of
  softswitch/entries.py.

The server calls a switch from one thread at a time (it holds a lock around it).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from softswitch.entries import Replica, TableEntry

if TYPE_CHECKING:
    from finsy.proto import p4i


@runtime_checkable
class LoadedProgram(Protocol):
    """A program a backend has accepted; immutable, shareable between switches."""

    @property
    def p4info(self) -> p4i.P4Info:
        """The program's P4Info, with the ids p4c would assign."""
        ...

    def device_config(self) -> bytes:
        """The bytes `Backend.load` rebuilds this program from."""
        ...


@runtime_checkable
class SwitchBackend(Protocol):
    """One v1model switch instance with its state."""

    # --- tables ---------------------------------------------------------------------------
    def insert_entry(self, e: TableEntry) -> None: ...

    def modify_entry(self, e: TableEntry) -> None: ...

    def delete_entry(self, e: TableEntry) -> None:
        """The entry is found by table, match and priority; action and params are ignored."""
        ...

    def entries(self, table: str | None = None) -> list[TableEntry]:
        """Entries of one table, or of every table, in insertion order."""
        ...

    def set_default_action(self, table: str, action: str, params: dict[str, int]) -> None: ...

    def reset_default_action(self, table: str) -> None:
        """Back to the program's default action."""
        ...

    def default_action(self, table: str) -> tuple[str, dict[str, int]]: ...

    # --- packet replication engine ----------------------------------------------------------
    def set_multicast_group(self, group: int, replicas: list[Replica]) -> None: ...

    def delete_multicast_group(self, group: int) -> None: ...

    def multicast_groups(self) -> dict[int, list[Replica]]: ...

    def set_clone_session(
        self,
        session: int,
        replicas: list[Replica],
        class_of_service: int = 0,
        packet_length_bytes: int = 0,
    ) -> None: ...

    def delete_clone_session(self, session: int) -> None: ...

    def clone_sessions(self) -> dict[int, list[Replica]]: ...

    # --- externs ----------------------------------------------------------------------------
    def counter(self, name: str, index: int) -> tuple[int, int]:
        """(packets, bytes) of one cell of an indexed counter."""
        ...

    def set_counter(self, name: str, index: int, packets: int, bytes_: int) -> None: ...

    def direct_counter(self, e: TableEntry) -> tuple[int, int]:
        """(packets, bytes) of the direct counter cell of an entry (found as delete_entry)."""
        ...

    def set_direct_counter(self, e: TableEntry, packets: int, bytes_: int) -> None: ...

    def register(self, name: str, index: int) -> int: ...

    def set_register(self, name: str, index: int, value: int) -> None: ...

    # --- the data plane ---------------------------------------------------------------------
    def process(self, port: int, frame: bytes) -> list[tuple[int, bytes]]:
        """Every frame that leaves, with its egress port, in order. Frames to the CPU port
        carry the packet_in header as the program emitted it; a frame from the CPU port
        starts with the packet_out header."""
        ...

    def process_many(self, port: int, frames: Iterable[bytes]) -> list[tuple[int, bytes]]:
        """The same as process() frame by frame, the outputs concatenated."""
        ...


@runtime_checkable
class Backend(Protocol):
    """Builds programs and switches; the server holds one for its whole life."""

    name: str  # in log lines and error messages, e.g. "python"

    def load(self, device_config: bytes) -> LoadedProgram:
        """Rebuild a program from a device config. A SwitchError is passed on to the client
        as it is; any other exception rejects the config (INVALID_ARGUMENT with its text)."""
        ...

    def new_switch(self, program: LoadedProgram, cpu_port: int | None) -> SwitchBackend:
        """A switch running `program` with empty tables, groups, sessions and externs."""
        ...
