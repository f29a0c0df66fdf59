"""One P4Runtime device: the pipeline (a program and a switch of an execution backend) behind
a lock, the P4Runtime view of it (P4Info index, cookie), and the entity-level Write / Read
operations.

Everything here talks to the backend only through the Protocols of softswitch.backend, so
this module imports without the Python core; that backend is the default, loaded on the
first pipeline when no other is given."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from finsy.proto import p4i, p4r

from softswitch.backend import Backend, LoadedProgram, SwitchBackend
from softswitch.entries import SwitchError
from softswitch.server import translate as tr
from softswitch.server.errors import error
from softswitch.server.p4info_index import CpmInfo, P4InfoIndex, TableInfo
from softswitch.server.packetio import pack, unpack

log = logging.getLogger("softswitch.device")

Action = p4r.SetForwardingPipelineConfigRequest
Sender = Callable[[int, bytes], bool]  # (port, frame) -> sent?
ManySender = Callable[[list[tuple[int, bytes]]], None]  # [(port, frame), ...] in order
PacketInSink = Callable[[p4r.PacketIn], None]


def python_backend() -> Backend:
    """The Python core (softswitch.core), imported when the first pipeline needs it."""
    try:
        from softswitch.core.backend import PythonBackend
    except Exception as exc:
        raise error("UNIMPLEMENTED", f"the softswitch Python core cannot be loaded: {exc}") from exc
    return PythonBackend()


@dataclass
class Pipeline:
    config: p4r.ForwardingPipelineConfig
    index: P4InfoIndex
    program: LoadedProgram


@dataclass
class Staged:
    """A config saved by VERIFY_AND_SAVE, not yet committed. P4Runtime: the forwarding state
    stays as it is, but later Reads and Writes refer to the new config, and COMMIT realizes it
    by replaying the writes made since the save. The writes land in a Python core switch of the
    saved program (Reads see them, bad ones are refused at once) and are kept for the replay
    into the switch that COMMIT makes (of any backend; the eBPF one attaches on creation)."""

    pipeline: Pipeline
    switch: SwitchBackend
    metadata: dict[tuple, bytes] = field(default_factory=dict)
    writes: list[p4r.Update] = field(default_factory=list)


class Device:
    """All state of one switch as P4Runtime sees it. Thread-safe: one lock around the Switch."""

    def __init__(
        self,
        device_id: int,
        cpu_port: int | None,
        send: Sender | None = None,
        port_status_register: str | None = None,
        carrier: Callable[[], dict[int, bool]] | None = None,
        backend: Backend | None = None,
    ) -> None:
        self.device_id = device_id
        self.backend = backend  # None: the Python core, on the first pipeline
        self.cpu_port = cpu_port
        self.lock = threading.RLock()
        self.pipeline: Pipeline | None = None
        self.staged: Staged | None = None  # VERIFY_AND_SAVE, awaiting COMMIT
        self.switch: SwitchBackend | None = None
        self.send = send or (lambda port, frame: False)
        # Sends a whole batch in one call (PortSet.send_many); per frame through `send` if unset.
        self.send_many: ManySender | None = None
        self.packet_in_sink: PacketInSink | None = None
        self.port_status_register = port_status_register
        self.carrier = carrier or dict
        self._metadata: dict[tuple, bytes] = {}  # controller metadata of table entries
        self._packet_in: CpmInfo | None = None
        self._packet_out: CpmInfo | None = None
        self.dropped_no_pipeline = 0

    # --- pipeline ------------------------------------------------------------------------
    def _build(self, config: p4r.ForwardingPipelineConfig) -> Pipeline:
        if self.backend is None:
            self.backend = python_backend()
        try:
            program = self.backend.load(config.p4_device_config)
        except SwitchError:
            raise
        except Exception as exc:  # any parse problem of the blob is the client's
            raise error("INVALID_ARGUMENT", f"p4_device_config rejected: {exc}") from exc
        if config.HasField("p4info"):
            check_p4info(config.p4info, program.p4info)
        else:  # the program's own P4Info
            given = config
            config = p4r.ForwardingPipelineConfig()
            config.CopyFrom(given)
            config.p4info.CopyFrom(program.p4info)
        return Pipeline(config, P4InfoIndex(config.p4info), program)

    def set_pipeline(self, action: int, config: p4r.ForwardingPipelineConfig | None) -> None:
        if action == Action.COMMIT:
            if config is not None:
                raise error("INVALID_ARGUMENT", "COMMIT takes no config")
            with self.lock:
                staged = self.staged
                if staged is None:
                    raise error("FAILED_PRECONDITION", "COMMIT without a saved config")
                self.staged = None
                self._commit(staged.pipeline, keep_state=False)
                for update in staged.writes:
                    try:
                        self._apply(update)
                    except SwitchError as exc:
                        raise error(
                            exc.code,
                            f"COMMIT: a write made since VERIFY_AND_SAVE could not be replayed"
                            f" ({exc.message})",
                        ) from exc
            return
        if action not in (
            Action.VERIFY,
            Action.VERIFY_AND_SAVE,
            Action.VERIFY_AND_COMMIT,
            Action.RECONCILE_AND_COMMIT,
        ):
            raise error("INVALID_ARGUMENT", f"unknown SetForwardingPipelineConfig action {action}")
        if config is None or not config.p4_device_config:
            raise error("INVALID_ARGUMENT", "no config (p4_device_config) given")
        pipe = self._build(config)
        with self.lock:
            if action == Action.VERIFY_AND_SAVE:
                # the Python core holds what is written until COMMIT (see Staged)
                self.staged = Staged(pipe, python_backend().new_switch(pipe.program, self.cpu_port))
            elif action == Action.VERIFY_AND_COMMIT:
                self.staged = None
                self._commit(pipe, keep_state=False)
            elif action == Action.RECONCILE_AND_COMMIT:
                self.staged = None
                self._commit(pipe, keep_state=True)

    def _commit(self, pipe: Pipeline, keep_state: bool) -> None:
        new = self.backend.new_switch(pipe.program, self.cpu_port)
        if keep_state and self.switch is not None:
            self._replay(self.switch, new)
        else:
            self._metadata = {}
        self.pipeline, self.switch = pipe, new
        self._packet_in = pipe.index.cpm.get("packet_in")
        self._packet_out = pipe.index.cpm.get("packet_out")
        self._apply_port_status()
        log.info("pipeline committed (cookie %d)", pipe.config.cookie.cookie)

    def _replay(self, old, new) -> None:
        """RECONCILE_AND_COMMIT: carry the forwarding state into the new pipeline, or fail."""
        try:
            for e in old.entries():
                new.insert_entry(e)
            for t in self.pipeline.index.tables.values():
                name, params = old.default_action(t.name)
                new.set_default_action(t.name, name, params)
            for g, reps in old.multicast_groups().items():
                new.set_multicast_group(g, reps)
            for s, reps in old.clone_sessions().items():
                new.set_clone_session(s, reps)
        except SwitchError as exc:
            raise error(
                "INVALID_ARGUMENT", f"forwarding state does not fit the new pipeline: {exc.message}"
            ) from exc

    def _apply_port_status(self) -> None:
        if self.port_status_register is None or self.switch is None:
            return
        for port, up in self.carrier().items():
            self.set_port_status(port, up)

    def set_port_status(self, port: int, up: bool) -> None:
        """Write the --port-status-register cell: 1 = carrier down, 0 = up."""
        name = self.port_status_register
        with self.lock:
            if name is None or self.switch is None:
                return
            if name not in self.pipeline.index.registers_by_name:
                log.warning("port status register %s is not in the program", name)
                return
            try:
                self.switch.set_register(name, port, 0 if up else 1)
            except SwitchError as exc:
                log.warning("port status register %s[%d]: %s", name, port, exc.message)

    def get_pipeline(self, response_type: int) -> p4r.ForwardingPipelineConfig:
        with self.lock:
            # after VERIFY_AND_SAVE the saved config, as Reads refer to it (and BMv2 says)
            pipe = self.staged.pipeline if self.staged is not None else self.pipeline
            if pipe is None:
                return p4r.ForwardingPipelineConfig()  # no pipeline: empty config
            src = pipe.config
        rt = p4r.GetForwardingPipelineConfigRequest
        out = p4r.ForwardingPipelineConfig()
        if src.HasField("cookie"):
            out.cookie.CopyFrom(src.cookie)
        if response_type in (rt.ALL, rt.P4INFO_AND_COOKIE):
            out.p4info.CopyFrom(src.p4info)
        if response_type in (rt.ALL, rt.DEVICE_CONFIG_AND_COOKIE):
            out.p4_device_config = src.p4_device_config
        return out

    @property
    def programmed(self) -> bool:
        """Whether Writes and Reads have a config to refer to (committed or saved)."""
        return self.pipeline is not None or self.staged is not None

    def _need_pipeline(self) -> P4InfoIndex:
        """The P4Info index Writes and Reads refer to: the saved config's while one waits for
        COMMIT, else the committed one's."""
        if self.staged is not None:
            return self.staged.pipeline.index
        if self.pipeline is None:
            raise error("FAILED_PRECONDITION", "no forwarding pipeline config has been set")
        return self.pipeline.index

    @property
    def _sw(self) -> SwitchBackend:
        """The switch Writes and Reads address (the data plane keeps self.switch)."""
        return self.staged.switch if self.staged is not None else self.switch

    @property
    def _md(self) -> dict[tuple, bytes]:
        return self.staged.metadata if self.staged is not None else self._metadata

    # --- Write ---------------------------------------------------------------------------
    def write(self, update: p4r.Update) -> None:
        """Apply one update; raises SwitchError with the P4Runtime code on rejection."""
        with self.lock:
            self._apply(update)
            if self.staged is not None:  # replayed by COMMIT
                kept = p4r.Update()
                kept.CopyFrom(update)
                self.staged.writes.append(kept)

    def _apply(self, update: p4r.Update) -> None:
        with self.lock:
            idx = self._need_pipeline()
            kind = update.entity.WhichOneof("entity")
            utype = update.type
            if utype not in (p4r.Update.INSERT, p4r.Update.MODIFY, p4r.Update.DELETE):
                raise error("INVALID_ARGUMENT", f"update type {utype} is not INSERT/MODIFY/DELETE")
            ent = update.entity
            if kind == "table_entry":
                self._write_table(idx, utype, ent.table_entry)
            elif kind == "packet_replication_engine_entry":
                self._write_pre(utype, ent.packet_replication_engine_entry)
            elif kind == "counter_entry":
                self._write_counter(idx, utype, ent.counter_entry)
            elif kind == "direct_counter_entry":
                self._write_direct_counter(idx, utype, ent.direct_counter_entry)
            elif kind == "register_entry":
                self._write_register(idx, utype, ent.register_entry)
            elif kind is None:
                raise error("INVALID_ARGUMENT", "update without an entity")
            else:
                raise error("UNIMPLEMENTED", f"{kind} is not supported by softswitch")

    def _write_table(self, idx: P4InfoIndex, utype: int, pe: p4r.TableEntry) -> None:
        sw = self._sw
        for unsupported in ("meter_config", "meter_counter_data", "time_since_last_hit"):
            if pe.HasField(unsupported):
                raise error("UNIMPLEMENTED", f"table entry field {unsupported} is not supported")
        if pe.idle_timeout_ns:
            raise error("UNIMPLEMENTED", "idle timeout is not supported")
        if pe.is_default_action:
            self._write_default(idx, utype, pe)
            return
        t = idx.table(pe.table_id)
        if t.is_const:
            raise error("PERMISSION_DENIED", f"{t.name} has const entries")
        if utype == p4r.Update.DELETE:
            _, e = tr.key_from_p4r(idx, pe)
            sw.delete_entry(e)
            self._md.pop(tr.entry_key(e), None)
            return
        _, e = tr.entry_from_p4r(idx, pe)
        if pe.HasField("counter_data") and not t.direct_counter_id:
            raise error("INVALID_ARGUMENT", f"{t.name} has no direct counter")
        if utype == p4r.Update.INSERT:
            sw.insert_entry(e)
        else:
            sw.modify_entry(e)
        key = tr.entry_key(e)
        if pe.metadata:
            self._md[key] = pe.metadata
        else:
            self._md.pop(key, None)
        if pe.HasField("counter_data"):
            sw.set_direct_counter(e, pe.counter_data.packet_count, pe.counter_data.byte_count)

    def _write_default(self, idx: P4InfoIndex, utype: int, pe: p4r.TableEntry) -> None:
        t = idx.table(pe.table_id)
        if utype != p4r.Update.MODIFY:
            raise error("INVALID_ARGUMENT", f"{t.name}: the default entry can only be modified")
        if len(pe.match) or pe.priority:
            raise error("INVALID_ARGUMENT", f"{t.name}: default entry with match or priority")
        if t.const_default_action_id:
            raise error("PERMISSION_DENIED", f"{t.name}: the default action is const")
        kind = pe.action.WhichOneof("type")
        if kind is None:
            self._sw.reset_default_action(t.name)
            return
        if kind != "action":
            raise error("UNIMPLEMENTED", f"{t.name}: {kind} (action profiles) not supported")
        name, params = tr.action_from_p4r(idx, t, pe.action.action, default=True)
        self._sw.set_default_action(t.name, name, params)

    def _write_pre(self, utype: int, pre: p4r.PacketReplicationEngineEntry) -> None:
        sw = self._sw
        kind = pre.WhichOneof("type")
        if kind == "multicast_group_entry":
            g = pre.multicast_group_entry
            what = f"multicast group {g.multicast_group_id}"
            if g.multicast_group_id == 0:
                raise error("INVALID_ARGUMENT", "multicast group id 0 is not valid")
            exists = g.multicast_group_id in sw.multicast_groups()
            self._check_exists(utype, exists, what)
            if utype == p4r.Update.DELETE:
                sw.delete_multicast_group(g.multicast_group_id)
            else:
                sw.set_multicast_group(
                    g.multicast_group_id, tr.replicas_from_p4r(list(g.replicas), what)
                )
        elif kind == "clone_session_entry":
            c = pre.clone_session_entry
            what = f"clone session {c.session_id}"
            if c.session_id == 0:
                raise error("INVALID_ARGUMENT", "clone session id 0 is not valid")
            if c.packet_length_bytes < 0:
                raise error("INVALID_ARGUMENT", f"{what}: negative packet_length_bytes")
            exists = c.session_id in sw.clone_sessions()
            self._check_exists(utype, exists, what)
            if utype == p4r.Update.DELETE:
                sw.delete_clone_session(c.session_id)
            else:
                sw.set_clone_session(
                    c.session_id,
                    tr.replicas_from_p4r(list(c.replicas), what),
                    class_of_service=c.class_of_service,
                    packet_length_bytes=c.packet_length_bytes,
                )
        else:
            raise error("INVALID_ARGUMENT", "packet replication engine entry without a type")

    @staticmethod
    def _check_exists(utype: int, exists: bool, what: str) -> None:
        if utype == p4r.Update.INSERT and exists:
            raise error("ALREADY_EXISTS", f"{what} already exists")
        if utype != p4r.Update.INSERT and not exists:
            raise error("NOT_FOUND", f"{what} does not exist")

    @staticmethod
    def _indices(size: int, ce, what: str) -> range:
        if not ce.HasField("index"):
            return range(size)
        i = ce.index.index
        if not 0 <= i < size:
            raise error("OUT_OF_RANGE", f"{what}: index {i} outside 0..{size - 1}")
        return range(i, i + 1)

    def _write_counter(self, idx: P4InfoIndex, utype: int, ce: p4r.CounterEntry) -> None:
        c = idx.counter(ce.counter_id)
        if utype != p4r.Update.MODIFY:
            raise error("INVALID_ARGUMENT", f"counter {c.name}: only MODIFY is allowed")
        for i in self._indices(c.size, ce, f"counter {c.name}"):
            self._sw.set_counter(c.name, i, ce.data.packet_count, ce.data.byte_count)

    def _write_direct_counter(
        self, idx: P4InfoIndex, utype: int, dc: p4r.DirectCounterEntry
    ) -> None:
        if utype != p4r.Update.MODIFY:
            raise error("INVALID_ARGUMENT", "direct counter: only MODIFY is allowed")
        t, e = tr.key_from_p4r(idx, dc.table_entry)
        if not t.direct_counter_id:
            raise error("INVALID_ARGUMENT", f"{t.name} has no direct counter")
        self._sw.set_direct_counter(e, dc.data.packet_count, dc.data.byte_count)

    def _write_register(self, idx: P4InfoIndex, utype: int, re: p4r.RegisterEntry) -> None:
        r = idx.register(re.register_id)
        if utype != p4r.Update.MODIFY:
            raise error("INVALID_ARGUMENT", f"register {r.name}: only MODIFY is allowed")
        value = tr.bitstring_value(re.data, r.bitwidth, f"register {r.name}")
        for i in self._indices(r.size, re, f"register {r.name}"):
            self._sw.set_register(r.name, i, value)

    # --- Read ----------------------------------------------------------------------------
    def read(self, ent: p4r.Entity) -> list[p4r.Entity]:
        with self.lock:
            idx = self._need_pipeline()
            kind = ent.WhichOneof("entity")
            if kind == "table_entry":
                return [p4r.Entity(table_entry=x) for x in self._read_table(idx, ent.table_entry)]
            if kind == "packet_replication_engine_entry":
                return self._read_pre(ent.packet_replication_engine_entry)
            if kind == "counter_entry":
                return self._read_counter(idx, ent.counter_entry)
            if kind == "direct_counter_entry":
                return self._read_direct_counter(idx, ent.direct_counter_entry)
            if kind == "register_entry":
                return self._read_register(idx, ent.register_entry)
            if kind is None:
                raise error("INVALID_ARGUMENT", "read of an empty entity")
            raise error("UNIMPLEMENTED", f"reading {kind} is not supported by softswitch")

    def _tables(self, idx: P4InfoIndex, table_id: int) -> list[TableInfo]:
        return list(idx.tables.values()) if table_id == 0 else [idx.table(table_id)]

    def _read_table(self, idx: P4InfoIndex, q: p4r.TableEntry) -> list[p4r.TableEntry]:
        out: list[p4r.TableEntry] = []
        want_counter = q.HasField("counter_data")
        for t in self._tables(idx, q.table_id):
            if q.is_default_action:
                name, params = self._sw.default_action(t.name)
                d = p4r.TableEntry(table_id=t.id, is_default_action=True)
                d.action.action.CopyFrom(tr.action_to_p4r(idx, name, params))
                out.append(d)
                continue
            key = None
            if len(q.match):  # a match filters to that one entry
                _, key = tr.key_from_p4r(idx, q)
            for e in self._sw.entries(t.name):
                if key is not None and (e.match != key.match or e.priority != key.priority):
                    continue
                if key is None and q.priority and e.priority != q.priority:
                    continue
                pe = tr.entry_to_p4r(idx, e)
                md = self._md.get(tr.entry_key(e))
                if md:
                    pe.metadata = md
                if want_counter and t.direct_counter_id:
                    packets, bytes_ = self._sw.direct_counter(e)
                    pe.counter_data.packet_count = packets
                    pe.counter_data.byte_count = bytes_
                out.append(pe)
        return out

    def _read_pre(self, q: p4r.PacketReplicationEngineEntry) -> list[p4r.Entity]:
        out = []
        kind = q.WhichOneof("type")
        if kind == "multicast_group_entry":
            want = q.multicast_group_entry.multicast_group_id
            for g, reps in sorted(self._sw.multicast_groups().items()):
                if want in (0, g):
                    m = p4r.MulticastGroupEntry(multicast_group_id=g)
                    m.replicas.extend(tr.replicas_to_p4r(reps))
                    out.append(
                        p4r.Entity(
                            packet_replication_engine_entry=p4r.PacketReplicationEngineEntry(
                                multicast_group_entry=m
                            )
                        )
                    )
        elif kind == "clone_session_entry":
            want = q.clone_session_entry.session_id
            for s, reps in sorted(self._sw.clone_sessions().items()):
                if want in (0, s):
                    c = p4r.CloneSessionEntry(session_id=s)
                    c.replicas.extend(tr.replicas_to_p4r(reps))
                    out.append(
                        p4r.Entity(
                            packet_replication_engine_entry=p4r.PacketReplicationEngineEntry(
                                clone_session_entry=c
                            )
                        )
                    )
        else:
            raise error("INVALID_ARGUMENT", "packet replication engine read without a type")
        return out

    def _read_counter(self, idx: P4InfoIndex, q: p4r.CounterEntry) -> list[p4r.Entity]:
        counters = list(idx.counters.values()) if q.counter_id == 0 else [idx.counter(q.counter_id)]
        out = []
        for c in counters:
            for i in self._indices(c.size, q, f"counter {c.name}"):
                packets, bytes_ = self._sw.counter(c.name, i)
                ce = p4r.CounterEntry(counter_id=c.id)
                ce.index.index = i
                ce.data.packet_count, ce.data.byte_count = packets, bytes_
                out.append(p4r.Entity(counter_entry=ce))
        return out

    def _read_direct_counter(self, idx: P4InfoIndex, q: p4r.DirectCounterEntry) -> list[p4r.Entity]:
        query = p4r.TableEntry()
        query.CopyFrom(q.table_entry)
        query.counter_data.SetInParent()
        out = []
        for pe in self._read_table(idx, query):
            if not pe.HasField("counter_data"):
                continue
            dc = p4r.DirectCounterEntry(data=pe.counter_data)
            pe.ClearField("counter_data")
            dc.table_entry.CopyFrom(pe)
            out.append(p4r.Entity(direct_counter_entry=dc))
        return out

    def _read_register(self, idx: P4InfoIndex, q: p4r.RegisterEntry) -> list[p4r.Entity]:
        regs = list(idx.registers.values()) if q.register_id == 0 else [idx.register(q.register_id)]
        out = []
        for r in regs:
            for i in self._indices(r.size, q, f"register {r.name}"):
                re = p4r.RegisterEntry(
                    register_id=r.id, data=tr.bitstring(self._sw.register(r.name, i))
                )
                re.index.index = i
                out.append(p4r.Entity(register_entry=re))
        return out

    # --- the data plane ------------------------------------------------------------------
    def process_frame(self, port: int, frame: bytes) -> None:
        """A frame arrived on `port`: run the pipeline and send what leaves."""
        with self.lock:
            sw = self.switch
            if sw is None:
                self.dropped_no_pipeline += 1
                return
            outs = sw.process(port, frame)
        self._emit(outs)

    def process_batch(self, port: int, frames: list[bytes]) -> None:
        """Frames that arrived on `port` in one go: the lock is taken once for all of them
        and what leaves is sent afterwards, in order."""
        with self.lock:
            sw = self.switch
            if sw is None:
                self.dropped_no_pipeline += len(frames)
                return
            outs = sw.process_many(port, frames)  # the whole batch under one lock
        self._emit(outs)

    def packet_out(self, msg: p4r.PacketOut) -> None:
        """Inject a PacketOut at the CPU port, prefixed with the packet_out header."""
        with self.lock:
            if self.pipeline is None:  # the data plane's: a saved config does not forward yet
                raise error("FAILED_PRECONDITION", "no forwarding pipeline config has been set")
            if self.cpu_port is None:
                raise error("FAILED_PRECONDITION", "no CPU port (start with --cpu-port)")
            frame = msg.payload
            if self._packet_out is not None:
                frame = pack(self._packet_out, list(msg.metadata))
                frame += msg.payload
            elif len(msg.metadata):
                raise error("INVALID_ARGUMENT", "PacketOut metadata but no packet_out header")
            outs = self.switch.process(self.cpu_port, frame)
        self._emit(outs)

    def _emit(self, outs: list[tuple[int, bytes]]) -> None:
        many = self.send_many
        if many is not None:
            cpu = self.cpu_port
            if cpu is not None and any(port == cpu for port, _ in outs):
                for port, frame in outs:
                    if port == cpu:
                        self._to_controller(frame)
                outs = [o for o in outs if o[0] != cpu]
            many(outs)
            return
        for port, frame in outs:
            if port == self.cpu_port:
                self._to_controller(frame)
            else:
                self.send(port, frame)

    def packet_in(self, frame: bytes) -> None:
        """A frame that left the pipeline at the CPU port elsewhere (the eBPF backend's
        CPU port), packet_in header first: to the primary controller."""
        self._to_controller(frame)

    def _to_controller(self, frame: bytes) -> None:
        sink = self.packet_in_sink
        if sink is None:
            return
        msg = p4r.PacketIn()
        if self._packet_in is not None:
            try:
                md, payload = unpack(self._packet_in, frame)
            except SwitchError as exc:
                log.warning("dropping packet to CPU: %s", exc.message)
                return
            msg.metadata.extend(md)
            msg.payload = payload
        else:
            msg.payload = frame
        sink(msg)


def check_p4info(given: p4i.P4Info, program: p4i.P4Info) -> None:
    """The client's P4Info must describe the program in the device config: every table,
    match field, action, parameter, counter, register and controller header it names must
    exist there with the same bit width (ids may be the client's own)."""

    def fields(msgs, sub: str) -> dict[str, dict[str, int]]:
        return {m.preamble.name: {f.name: f.bitwidth for f in getattr(m, sub)} for m in msgs}

    pairs = [
        ("table", fields(given.tables, "match_fields"), fields(program.tables, "match_fields")),
        ("action", fields(given.actions, "params"), fields(program.actions, "params")),
        (
            "controller header",
            fields(given.controller_packet_metadata, "metadata"),
            fields(program.controller_packet_metadata, "metadata"),
        ),
    ]
    for kind, mine, theirs in pairs:
        for name, members in mine.items():
            if name not in theirs:
                raise error("INVALID_ARGUMENT", f"P4Info {kind} {name} is not in the device config")
            if members != theirs[name]:
                raise error(
                    "INVALID_ARGUMENT",
                    f"P4Info {kind} {name}: fields {members} differ from the device config's "
                    f"{theirs[name]}",
                )
    for kind, mine, theirs in (
        ("counter", given.counters, program.counters),
        ("register", given.registers, program.registers),
    ):
        names = {m.preamble.name for m in theirs}
        for m in mine:
            if m.preamble.name not in names:
                raise error(
                    "INVALID_ARGUMENT",
                    f"P4Info {kind} {m.preamble.name} is not in the device config",
                )
