"""Receiver: UDP socket on port 50000 (model group joined, unicast too), reassembly onto disk,
NACKs to the sender, cold-start check, JSON record.

A receiver started on standby (`standby`) listens but neither joins the group nor says a word
to the sender until it is asked to join (`join()`; the command line's SIGUSR2): then it joins
and asks for everything it lacks, as a receiver that starts late does. A receiver asked to
leave (`leave()`; SIGUSR1) drops its group membership, stops answering the sender, keeps
logging what still arrives for `linger` seconds (what the network sends it after it left) and
ends with outcome `left`. A source-specific receiver (`source_specific`, PIM-SSM) joins the
group for the sender's address only (IGMPv3 INCLUDE {sender})."""

from __future__ import annotations

import contextlib
import logging
import socket
import struct
import time
from dataclasses import dataclass
from pathlib import Path

from modelsync.batchrecv import SO_TIMESTAMPNS, BatchReceiver
from modelsync.control import ControlMsg, pack_nacks, range_chunks
from modelsync.loadcheck import load_check
from modelsync.manifest import Manifest
from modelsync.reassembly import DiskError, Reassembler, RxCounters
from modelsync.records import Arrivals, ReceiverRecord, process_cpu_s
from wire.codec import DeliveryHeader, MsgType
from wire.constants import CONTROL_PORT, DATA_PORT, MODEL_GROUP

log = logging.getLogger("modelsync.receiver")

EXIT_COMPLETE, EXIT_INCOMPLETE, EXIT_FAILED, EXIT_LEFT = 0, 2, 3, 4
COALESCE_SHARE = 0.75  # of a batch: what a coalescing sleep waits for
_TIMESPEC = struct.Struct("@qq")  # the kernel's stamp of a datagram (SO_TIMESTAMPNS)
# linux/in.h; Python's socket module does not export them on Linux
IP_ADD_SOURCE_MEMBERSHIP = getattr(socket, "IP_ADD_SOURCE_MEMBERSHIP", 39)
IP_DROP_SOURCE_MEMBERSHIP = getattr(socket, "IP_DROP_SOURCE_MEMBERSHIP", 40)


class ArrivalLog:
    """Arrival times of data datagrams, kept as first, last, count and every gap of at least
    `min_gap` (so a whole delivery costs a few numbers, not one per datagram)."""

    def __init__(self, min_gap: float) -> None:
        self.min_gap = min_gap
        self.first: float | None = None
        self.last: float | None = None
        self.count = 0
        self.gaps: list[tuple[float, float]] = []
        self.user_clock = False  # a datagram came without the kernel's stamp

    def add(self, t: float, kernel: bool = True) -> None:
        self.user_clock |= not kernel
        if self.last is not None and t - self.last >= self.min_gap:
            self.gaps.append((self.last, t))
        if self.first is None:
            self.first = t
        if self.last is None or t > self.last:
            self.last = t
        self.count += 1

    def record(self) -> Arrivals:
        return Arrivals(
            clock="user" if self.user_clock else "kernel",
            min_gap_s=self.min_gap,
            first=self.first,
            last=self.last,
            count=self.count,
            gaps=list(self.gaps),
        )


@dataclass
class ReceiverConfig:
    name: str
    manifest: Manifest
    out_dir: Path
    sender_ip: str
    sender_port: int = CONTROL_PORT
    port: int = DATA_PORT
    bind: str = "0.0.0.0"
    group: str | None = MODEL_GROUP  # None: do not join
    iface_ip: str = "0.0.0.0"  # interface address for the group join (0.0.0.0: by route)
    deadline: float = 600.0  # seconds from start; then end with an exact account
    idle_nack: float = 1.0  # no data for this long and incomplete: NACK unasked
    nack_interval: float = 0.2  # at most one NACK burst per interval
    poll_quiet: float = 0.05  # answer a POLL only after data was quiet this long
    linger: float = 5.0  # after DONE, or the last POLL since, wait this long for FIN
    record: Path | None = None
    rcvbuf: int = 8 << 20
    gap_s: float = 0.001  # record every pause in the data of at least this long
    batch: int = 64  # datagrams taken per system call (recvmmsg); 1: one recvmsg each
    # after a batch short of `batch`, sleep until about COALESCE_SHARE of a batch has come
    # (from the datagrams' spacing), at most this long, so that each wake-up takes many: at a
    # few hundred datagrams a second per receiver (128 receivers on 2 cores) a receiver woken
    # for each spent ~8x the CPU per MB of full batches (a wake-up costs ~100 µs on these
    # VMs). The kernel stamps arrivals (SO_TIMESTAMPNS): reading late changes no time.
    coalesce: float = 0.1
    store: Path | None = None  # one copy per file on this disk, shared (Reassembler)
    standby: bool = False  # listen, but join (group and delivery) only when join() is called
    # join the group for the sender's address only (IGMPv3 INCLUDE {sender}: PIM-SSM)
    source_specific: bool = False


class Receiver:
    def __init__(self, cfg: ReceiverConfig) -> None:
        self.cfg = cfg
        self.counters = RxCounters()
        self.rx = Reassembler(cfg.manifest, cfg.out_dir, self.counters, cfg.store)
        self.started_at = time.time()
        self.first_packet_at: float | None = None
        self.last_packet_at: float | None = None
        self.joined = False
        self.leave_asked = False  # set by leave() (a signal handler may call it)
        self.left_at: float | None = None
        self.join_asked = not cfg.standby  # set by join() (a signal handler may call it)
        self.joined_at: float | None = None
        self.seq = 0
        self.error: str | None = None
        self.load = None
        self.arrivals = ArrivalLog(cfg.gap_s)
        self.spacing: float | None = None  # datagrams' mean spacing lately (s), for coalescing
        self.sock = self._open_socket()
        self.ctl = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sender = (cfg.sender_ip, cfg.sender_port)

    def _open_socket(self) -> socket.socket:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        with contextlib.suppress(OSError):  # arrival times stamped by the kernel
            s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        for opt in (33, socket.SO_RCVBUF):  # SO_RCVBUFFORCE (root), else capped by rmem_max
            with contextlib.suppress(OSError):
                s.setsockopt(socket.SOL_SOCKET, opt, self.cfg.rcvbuf)
                break
        try:
            s.bind((self.cfg.bind, self.cfg.port))
        except OSError as e:
            s.close()
            raise OSError(
                f"cannot bind UDP {self.cfg.bind}:{self.cfg.port}: {e.strerror}"
            ) from None
        if self.cfg.group and not self.cfg.standby:
            self._join_group(s)
        return s

    def _membership(self, add: bool) -> tuple[int, bytes]:
        """setsockopt's option and argument: (*,G), or (S,G) with the sender as the source
        (struct ip_mreq_source: group, interface, source)."""
        group, iface = socket.inet_aton(self.cfg.group or ""), socket.inet_aton(self.cfg.iface_ip)
        if self.cfg.source_specific:
            opt = IP_ADD_SOURCE_MEMBERSHIP if add else IP_DROP_SOURCE_MEMBERSHIP
            return opt, group + iface + socket.inet_aton(self.cfg.sender_ip)
        opt = socket.IP_ADD_MEMBERSHIP if add else socket.IP_DROP_MEMBERSHIP
        return opt, group + iface

    def _join_group(self, s: socket.socket) -> None:
        if self.cfg.group:
            opt, mreq = self._membership(True)
            try:
                s.setsockopt(socket.IPPROTO_IP, opt, mreq)
                self.joined = True
            except OSError as e:
                # Unicast still works (e.g. no multicast route in a bare namespace).
                log.warning(
                    "cannot join %s on %s: %s; unicast only",
                    self.cfg.group,
                    self.cfg.iface_ip,
                    e.strerror,
                )

    # -- joining and leaving ---------------------------------------------------------------
    def join(self) -> None:
        """Join the delivery (a receiver on standby): takes effect in the main loop."""
        self.join_asked = True

    def _join_now(self) -> None:
        self.joined_at = time.time()
        self._join_group(self.sock)
        log.info("joined the delivery (group %s)", self.cfg.group if self.joined else "none")
        self.report()  # the late receiver's hello: everything it lacks

    def leave(self) -> None:
        """Leave the delivery: takes effect in the main loop (safe from a signal handler)."""
        self.leave_asked = True

    def _leave_now(self) -> None:
        self.left_at = time.time()
        if self.joined and self.cfg.group:
            opt, mreq = self._membership(False)
            with contextlib.suppress(OSError):  # the group is left with the socket anyway
                self.sock.setsockopt(socket.IPPROTO_IP, opt, mreq)
        log.info("left the delivery; logging what still arrives for %g s", self.cfg.linger)

    # -- control -----------------------------------------------------------------------
    def _base(self, poll: int) -> dict[str, object]:
        self.seq += 1
        return {
            "model_id": self.cfg.manifest.model_id,
            "receiver": self.cfg.name,
            "seq": self.seq,
            "poll": poll,
        }

    def _send(self, msg: ControlMsg) -> None:
        try:
            self.ctl.sendto(msg.encode(), self.sender)
        except OSError as e:  # sender unreachable right now: the next timer tries again
            log.debug("control send to %s failed: %s", self.sender, e)

    def report(self, poll: int = 0) -> None:
        """Tell the sender our state: DONE, FAIL, or NACKs of the missing ranges."""
        c = self.counters
        if self.error is not None:
            self._send(ControlMsg(type="fail", error=self.error[:400], **self._base(poll)))  # type: ignore[arg-type]
            c.reports_sent += 1
        elif self.rx.done and self.load is not None:
            self._send(ControlMsg(type="done", **self._base(poll)))  # type: ignore[arg-type]
            c.reports_sent += 1
        else:
            counts = {f.index: f.count for f in self.rx.files}
            for msg in pack_nacks(self.rx.missing(), self._base(poll)):
                self._send(msg)
                c.nacks_sent += 1
                c.nack_chunks += sum(range_chunks(r, counts[f]) for f, r in msg.missing.items())

    # -- main loop ---------------------------------------------------------------------
    def batch_receiver(self) -> BatchReceiver:
        """The data socket read in batches (recvmmsg), with room for each datagram's stamp."""
        return BatchReceiver(
            self.sock, max(1, self.cfg.batch), control=socket.CMSG_SPACE(_TIMESPEC.size),
            use_recvmmsg=self.cfg.batch > 1,
        )  # fmt: skip

    def take(self, rxb: BatchReceiver, timeout: float) -> tuple[int, list[DeliveryHeader]]:
        """One batch: the datagrams that came within `timeout` reassembled onto disk, the data
        ones' arrival times logged. Returns (datagrams taken, the POLL/FIN headers among
        them). Raises DiskError when a write fails, OSError when the socket fails."""
        n = rxb.receive(timeout)
        if not n:
            return 0, []
        now = time.time()
        if self.first_packet_at is None:
            self.first_packet_at = now
        self.last_packet_at = now
        ctl = self.rx.handle_batch([rxb.datagram(i) for i in range(n)], now)
        skip = {i for i, _ in ctl}
        add, stamp = self.arrivals.add, rxb.stamp
        before = self.arrivals.last
        for i in range(n):
            if i not in skip:
                t = stamp(i)
                add(now if t is None else t, t is not None)
        data, last = n - len(skip), self.arrivals.last
        if data and before is not None and last is not None and last > before:
            s = (last - before) / data
            self.spacing = s if self.spacing is None else 0.75 * self.spacing + 0.25 * s
        return n, [h for _, h in ctl]

    def coalesce_s(self, batch: int) -> float:
        """How long to let datagrams gather after a short batch: until about COALESCE_SHARE
        of a batch is due at the recent spacing, at most `coalesce`."""
        if self.spacing is None:  # the rate unknown yet: no wait (a fast sender would
            return 0.0  # overflow the socket's buffer in the longest one)
        return min(self.cfg.coalesce, COALESCE_SHARE * batch * self.spacing)

    def run(self) -> int:
        cfg = self.cfg
        try:
            self.rx.open(time.time())
        except DiskError as e:
            return self._fail(str(e))
        rxb = self.batch_receiver()
        mono = time.monotonic
        t_start = mono()
        deadline = t_start + cfg.deadline
        last_data = t_start
        last_nack = t_start - cfg.nack_interval
        pending_poll = 0  # POLL seq to answer when data is quiet
        pending_since = 0.0
        left_mono = 0.0
        done_since: float | None = None
        n_since_check = 0
        log.info(
            "listening on %s:%d for model %s (%d files), group %s",
            cfg.bind, cfg.port, cfg.manifest.model_id, len(self.rx.files),
            cfg.group if self.joined else "not joined",
        )  # fmt: skip
        if self.rx.done:  # everything was on disk already (restarted receiver)
            self._finish_load()
            done_since = mono()
        # Hello: a late receiver asks for everything it lacks; a finished one says DONE.
        if self.join_asked:
            self.report()
        last_nack = mono()
        try:
            while True:
                try:
                    n, ctl = self.take(rxb, 0.05)
                except DiskError as e:
                    return self._fail(str(e))
                except OSError as e:
                    log.warning("receive failed: %s", e)
                    n, ctl = 0, []
                if n > len(ctl):  # data (or junk: counted by the reassembler)
                    last_data = mono()
                    n_since_check += n - len(ctl)
                    if self.rx.done and self.load is None:
                        self._finish_load()
                        self.report()
                        done_since = mono()
                fin = False
                for h in ctl:
                    if h.type == MsgType.POLL:
                        self.counters.polls += 1
                        if h.chunk > pending_poll or not pending_poll:
                            pending_poll, pending_since = max(h.chunk, 1), mono()
                    elif h.type == MsgType.FIN:
                        fin = True
                if fin:
                    if not self.rx.done and self.left_at is None:
                        self.error = "sender finished (FIN) before every file was verified"
                    break
                # data that left the batch short: let the next batch gather before reading
                short = 0 < n < rxb.batch and not ctl and cfg.coalesce > 0
                if n and not ctl and n_since_check < 256:
                    if short:
                        time.sleep(self.coalesce_s(rxb.batch))
                    continue
                n_since_check = 0
                t = mono()
                if not self.join_asked and not self.leave_asked:
                    if t >= deadline:
                        break
                    continue  # on standby: quiet until asked to join
                if self.cfg.standby and self.joined_at is None and not self.leave_asked:
                    self._join_now()
                    last_nack = t
                if self.leave_asked:
                    if self.left_at is None:
                        self._leave_now()
                        left_mono = t
                    if t - left_mono >= cfg.linger or t >= deadline:
                        break
                    continue  # no answers once left: only the arrivals are logged
                if pending_poll and (t - last_data >= cfg.poll_quiet or t - pending_since > 1.0):
                    self.report(pending_poll)
                    pending_poll = 0
                    last_nack = t
                    if done_since is not None:
                        # polled although done: the sender has not heard our DONE (lost, or
                        # a link on the way down); linger on while it asks
                        done_since = t
                elif (
                    not self.rx.done
                    and t - last_data >= cfg.idle_nack
                    and t - last_nack >= max(cfg.idle_nack, cfg.nack_interval)
                ):
                    self.report()
                    last_nack = t
                if done_since is not None and t - done_since >= cfg.linger:
                    break
                if t >= deadline:
                    if not self.rx.done:
                        self.error = (
                            f"deadline of {cfg.deadline:g} s passed before every file was verified"
                        )
                        self.report()
                    break
                if short:
                    time.sleep(self.coalesce_s(rxb.batch))
        finally:
            rxb.close()
        return self._end()

    def _finish_load(self) -> None:
        try:
            self.load = load_check(self.cfg.out_dir, [f.name for f in self.cfg.manifest.files])
        except ValueError as e:
            self.error = f"verified files do not load: {e}"
            self.load = None

    def _fail(self, message: str) -> int:
        log.error("%s", message)
        self.error = message
        self.report()
        self._write_record("failed")
        self.rx.close()
        return EXIT_FAILED

    def _end(self) -> int:
        self.rx.close()
        if self.left_at is not None:
            self._write_record("left")
            return EXIT_LEFT
        if self.rx.done and self.load is not None and not self.error:
            self._write_record("complete")
            return EXIT_COMPLETE
        self._write_record("incomplete")
        return EXIT_INCOMPLETE

    def record(self, outcome: str) -> ReceiverRecord:
        m = self.cfg.manifest
        return ReceiverRecord(
            receiver=self.cfg.name,
            model_id=m.model_id,
            model_name=m.name,
            out_dir=str(self.cfg.out_dir),
            outcome=outcome,  # type: ignore[arg-type]
            error=self.error,
            started_at=self.started_at,
            first_packet_at=self.first_packet_at,
            last_packet_at=self.last_packet_at,
            complete_at=self.rx.complete_at,
            verified_at=self.rx.verified_at,
            loadable_at=self.load.loadable_at if self.load else None,
            load_seconds=self.load.seconds if self.load else None,
            tensors=self.load.tensors if self.load else None,
            ended_at=time.time(),
            cpu_s=process_cpu_s(),
            multicast_joined=self.joined,
            counters=self.counters.record(),
            files=self.rx.file_records(),
            arrivals=self.arrivals.record(),
            joined_at=self.joined_at,
            left_at=self.left_at,
        )

    def _write_record(self, outcome: str) -> None:
        rec = self.record(outcome)
        self.last_record = rec
        if self.cfg.record is not None:
            try:
                self.cfg.record.parent.mkdir(parents=True, exist_ok=True)
                self.cfg.record.write_text(rec.model_dump_json(indent=2) + "\n")
            except OSError as e:  # e.g. the same full disk: say so, keep the exit code
                log.error("cannot write record %s: %s", self.cfg.record, e.strerror)

    def close(self) -> None:
        self.sock.close()
        self.ctl.close()
