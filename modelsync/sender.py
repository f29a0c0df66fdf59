"""Sender: chunks the model's files into datagrams and delivers them by one technology, then
polls the receivers and repairs exactly what each one misses, until all are verified or a
deadline passes.

With a members file (`--members-file`) the receivers of the list join and leave while the
model flows: the file, JSON `{"members": [names], "open": true|false}`, names who receives
now; the sender re-reads it as it sends (every 20 ms and every 256 frames) and while it
polls. A joiner gets the frames from then on (unicast: its own stream; BIER: its bit in the
BitString; SR-P2MP and IP multicast: whatever the network's tree gives it) and what it
missed by repair; a leaver is sent nothing more and no longer polled. While `open` is true
the session stays up for joiners even when every member is done."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import mmap
import random
import select
import socket
import struct
import time
from dataclasses import dataclass, field
from ipaddress import IPv6Address
from pathlib import Path

from modelsync.control import ControlMsg, decode_control, merge_needs
from modelsync.manifest import Manifest
from modelsync.pacing import TokenBucket
from modelsync.records import ReceiverStatus, SenderCounters, SenderRecord, process_cpu_s
from modelsync.targets import ReceiverSpec
from modelsync.transport import SendStats, iface_mac, open_raw, open_udp, send_raw, send_udp
from wire.bitstring import bitstrings_by_si
from wire.codec import FLAG_REPAIR, HEADER, HEADER_LEN, MAGIC, VERSION, MsgType, crc32
from wire.constants import CONTROL_PORT, DATA_PORT, MODEL_GROUP
from wire.frames import (
    IPV4_LEN,
    UDP_LEN,
    FrameTemplate,
    bier_prefix,
    bier_template,
    overhead,
    sr_p2mp_prefix,
    sr_p2mp_template,
    srv6_p2mp_prefix,
    srv6_p2mp_template,
)
from wire.srv6 import host_address, parse_sid
from wire.technology import Technology

log = logging.getLogger("modelsync.sender")
_CRC = struct.Struct("!I")


@dataclass
class _Counters:
    """Plain counters for the hot loop (pydantic attribute writes are slow); the record
    converts them into SenderCounters, which documents every field."""

    datagrams: int = 0
    copies: int = 0
    wire_bytes: int = 0
    first_pass_copies: int = 0
    repair_copies: int = 0
    chunks_repaired: int = 0
    dropped_on_purpose: int = 0
    send_errors: int = 0
    polls_sent: int = 0
    fins_sent: int = 0
    nacks_received: int = 0
    reports_received: int = 0
    bad_control: int = 0
    root_sid_changes: int = 0
    stale_nacks: int = 0
    member_changes: int = 0


ETH_LEN = 14
EXIT_COMPLETE, EXIT_INCOMPLETE = 0, 2
MEMBERS_LOOK_S = 0.02  # with a members file: how often the first pass looks at it at least


@dataclass
class SenderConfig:
    manifest: Manifest
    model_dir: Path
    receivers: list[ReceiverSpec]
    technology: Technology  # or its spelling
    src_ip: str = "0.0.0.0"
    mtu: int = 1500  # bytes of the Ethernet payload (IP packet plus BIER/MPLS header)
    rate_mbps: float = 0.0  # 0: unpaced
    listen_ip: str = "0.0.0.0"
    control_port: int = CONTROL_PORT
    group: str = MODEL_GROUP
    data_port: int = DATA_PORT  # destination port of the group and of BIER and SR-P2MP frames
    mcast_ttl: int = 16
    iface: str | None = None  # raw technologies
    dst_mac: str | None = None  # the attached switch port's MAC
    src_mac: str | None = None  # default: the interface's MAC
    bfir_id: int = 0
    bsl: int = 256
    bift_id_base: int = 1  # BIFT-id of SI k is k + base (the control plane installs SI + 1)
    root_sid: int | str | IPv6Address | None = None  # SR-MPLS: a label; SRv6: an address
    root_sid_file: Path | None = None  # SR-P2MP: re-read when it changes (new tree instance)
    members_file: Path | None = None  # who receives now (module docstring); None: everyone
    deadline: float = 600.0
    poll_wait: float = 0.5  # how long one poll collects answers
    drop: float = 0.0  # test fault injection: drop this share of copies on purpose
    drop_seed: int = 0
    record: Path | None = None
    progress: bool = False
    session: int = field(default_factory=lambda: random.getrandbits(16))

    def chunk_size(self) -> int:
        c = self.mtu - overhead(self.technology, self.bsl) - IPV4_LEN - UDP_LEN - HEADER_LEN
        if c < 64:
            raise ValueError(f"--mtu {self.mtu} leaves {c} payload bytes per datagram (< 64)")
        return min(c, 0xFFFF - HEADER_LEN - IPV4_LEN - UDP_LEN)


@dataclass
class Peer:
    spec: ReceiverSpec
    state: str = "silent"  # silent -> missing -> done | failed
    done_at: float | None = None
    error: str | None = None
    missing: dict[int, list[tuple[int, int | None]]] = field(default_factory=dict)
    answer: dict[int, list[tuple[int, int | None]]] | None = None  # answer being collected
    answered: bool = False  # complete answer since the last poll
    member: bool = True  # receives now (a members file may say otherwise)
    joined_at: float | None = None  # when a members file added it
    left_at: float | None = None  # when a members file removed it


class Sender:
    def __init__(self, cfg: SenderConfig) -> None:
        cfg.technology = Technology.parse(cfg.technology)
        self.cfg = cfg
        self.m = cfg.manifest
        self.mid = self.m.model_id_int
        self.C = cfg.chunk_size()
        self.c = _Counters()
        self.st = SendStats()
        self.peers = {r.name: Peer(r) for r in cfg.receivers}
        self.open = False  # the members file keeps the session open for joiners
        self.members_version = 0  # counts membership changes (the first pass follows them)
        self._members_mtime = -1
        if cfg.members_file is not None:
            self._read_members(initial=True)
        self.counts = [-(-f.size // self.C) for f in self.m.files]
        self.started_at = time.time()
        self.first_packet_at: float | None = None
        self.last_packet_at: float | None = None
        self.first_pass_done_at: float | None = None
        self.rounds = 0
        self.poll_seq = 0
        self.bucket = TokenBucket(cfg.rate_mbps * 1e6)
        self.rng = random.Random(cfg.drop_seed)
        self._maps: list[mmap.mmap | None] = []
        self._open_files()
        self.udp = open_udp(cfg.src_ip, cfg.mcast_ttl)
        self.ctl = self._open_control()
        self.raw: socket.socket | None = None
        self.tpl: FrameTemplate | None = None
        self._setup_raw()
        if self.tpl is not None:
            self.buf, self.o = self.tpl.buf, self.tpl.dgram_offset
        else:
            self.buf, self.o = bytearray(HEADER_LEN + self.C), 0
        self.view = memoryview(self.buf)
        self._src = [memoryview(mm) if mm is not None else None for mm in self._maps]
        self._take = self.bucket.take if self.bucket.rate > 0 else None
        self._drop = cfg.drop
        self._addr = {r.name: (r.ip, r.port) for r in cfg.receivers}
        self._prefix: bytes | None = None

    # -- setup -------------------------------------------------------------------------
    def _open_files(self) -> None:
        for f in self.m.files:
            p = self.cfg.model_dir / f.name
            try:
                size = p.stat().st_size
            except OSError as e:
                raise ValueError(f"{p}: cannot read model file: {e.strerror}") from None
            if size != f.size:
                raise ValueError(f"{p}: {size} bytes, the manifest says {f.size}")
            if size == 0:
                self._maps.append(None)
                continue
            with open(p, "rb") as fh:
                # MAP_POPULATE: map the (page-cached) file up front, not one fault per page
                # inside the send loop.
                flags = mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0)
                self._maps.append(mmap.mmap(fh.fileno(), 0, flags=flags, prot=mmap.PROT_READ))

    def _open_control(self) -> socket.socket:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((self.cfg.listen_ip, self.cfg.control_port))
        except OSError as e:
            s.close()
            where = f"{self.cfg.listen_ip}:{self.cfg.control_port}"
            raise ValueError(f"cannot listen for NACKs on UDP {where}: {e.strerror}") from None
        s.setblocking(False)
        return s

    def _setup_raw(self) -> None:
        cfg = self.cfg
        if not cfg.technology.raw_frames:
            return
        for name, val in (("--iface", cfg.iface), ("--dst-mac", cfg.dst_mac)):
            if not val:
                raise ValueError(f"technology {cfg.technology} needs {name}")
        if cfg.src_ip == "0.0.0.0":
            raise ValueError(f"technology {cfg.technology} needs --src-ip (the sender's address)")
        assert cfg.iface and cfg.dst_mac
        src_mac = cfg.src_mac or iface_mac(cfg.iface)
        maxd = HEADER_LEN + self.C
        if cfg.technology == Technology.BIER:
            ids = [r.bfr_id for r in cfg.receivers]
            if any(i is None for i in ids):
                missing = [r.name for r in cfg.receivers if r.bfr_id is None]
                raise ValueError(f"bier needs a bfr_id for every receiver; missing: {missing}")
            self._src_mac = src_mac
            self.tpl = bier_template(
                cfg.dst_mac, src_mac, cfg.src_ip, bytes(cfg.bsl // 8), cfg.bfir_id, maxd,
                cfg.group, cfg.data_port,
            )  # fmt: skip
        else:
            self._src_mac = src_mac
            self._sid_mtime = -1
            if cfg.root_sid_file is not None:
                self._check_root_sid_initial()
            if cfg.root_sid is None:
                raise ValueError(f"technology {cfg.technology} needs --root-sid or --root-sid-file")
            try:
                cfg.root_sid = self._parse_sid(str(cfg.root_sid))
            except ValueError as e:
                raise ValueError(f"--root-sid: {e}") from None
            if cfg.technology == Technology.SRV6_P2MP:
                self._src6 = host_address(cfg.src_ip)
                self.tpl = srv6_p2mp_template(
                    cfg.dst_mac, src_mac, cfg.src_ip, self._src6, cfg.root_sid, maxd, cfg.group,
                    cfg.data_port,
                )  # fmt: skip
            else:
                self.tpl = sr_p2mp_template(
                    cfg.dst_mac, src_mac, cfg.src_ip, cfg.root_sid, maxd, cfg.group,
                    cfg.data_port,
                )  # fmt: skip

    def open_raw(self) -> None:
        """Open the AF_PACKET socket (raw technologies; root or CAP_NET_RAW)."""
        if self.tpl is not None and self.raw is None:
            assert self.cfg.iface
            self.raw = open_raw(self.cfg.iface)

    def _bier_prefixes(self, names: list[str] | frozenset[str]) -> list[bytes]:
        """One Ethernet+BIER prefix per SI that holds one of the receivers."""
        assert self.cfg.dst_mac
        ids = [self.peers[n].spec.bfr_id for n in names]
        by_si = bitstrings_by_si([i for i in ids if i is not None], self.cfg.bsl)
        return [
            bier_prefix(
                self.cfg.dst_mac,
                self._src_mac,
                bs,
                self.cfg.bfir_id,
                bift_id=si + self.cfg.bift_id_base,
            )
            for si, bs in by_si.items()
        ]

    def _parse_sid(self, text: str) -> int | IPv6Address:
        """A root SID as the technology writes it: an MPLS label, or an SRv6 SID address."""
        if self.cfg.technology == Technology.SRV6_P2MP:
            return parse_sid(text)
        try:
            label = int(text.strip())
        except ValueError:
            raise ValueError(f"{text.strip()!r} is not an MPLS label") from None
        if not 0 <= label < 1 << 20:
            raise ValueError(f"MPLS label {label} does not fit in 20 bits")
        return label

    def _sr_prefix(self, sid: int | IPv6Address) -> bytes:
        assert self.cfg.dst_mac
        if isinstance(sid, IPv6Address):
            return srv6_p2mp_prefix(self.cfg.dst_mac, self._src_mac, self._src6, sid)
        return sr_p2mp_prefix(self.cfg.dst_mac, self._src_mac, sid)

    def _check_root_sid_initial(self) -> None:
        path = self.cfg.root_sid_file
        assert path is not None
        try:
            self.cfg.root_sid = self._parse_sid(path.read_text())
            self._sid_mtime = path.stat().st_mtime_ns
        except (OSError, ValueError) as e:
            if self.cfg.root_sid is None:
                raise ValueError(f"--root-sid-file {path}: no root SID in it ({e})") from None

    def _check_root_sid(self) -> None:
        """The control plane hands a new tree's root SID over by rewriting this file
        (make-before-break); the next frame carries it."""
        path = self.cfg.root_sid_file
        assert path is not None
        try:
            st = path.stat()
            if st.st_mtime_ns == self._sid_mtime:
                return
            text = path.read_text().strip()
            sid = self._parse_sid(text)
        except OSError:
            return  # not there (yet): keep the SID we have
        except ValueError:
            log.warning("%s: %r is not a root SID; keeping %s", path, text, self.cfg.root_sid)
            self._sid_mtime = st.st_mtime_ns
            return
        self._sid_mtime = st.st_mtime_ns
        if sid != self.cfg.root_sid and self.tpl is not None:
            assert self.cfg.dst_mac
            log.info("root SID %s -> %s (from %s)", self.cfg.root_sid, sid, path)
            self.cfg.root_sid = sid
            self.tpl.set_l2_prefix(self._sr_prefix(sid))
            self.c.root_sid_changes += 1

    # -- membership ----------------------------------------------------------------------
    def members(self) -> list[str]:
        """Who receives now, in the receivers list's order."""
        return [n for n, p in self.peers.items() if p.member]

    def _read_members(self, initial: bool = False) -> None:
        """Apply the members file if it changed. A bad file at start is an error; later the
        current members stay, with a warning."""
        path = self.cfg.members_file
        assert path is not None
        try:
            st = path.stat()
            if st.st_mtime_ns == self._members_mtime:
                return
            data = json.loads(path.read_text())
            names = data["members"]
            is_open = bool(data.get("open", False))
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise ValueError("'members' is not a list of names")
            unknown = sorted(set(names) - set(self.peers))
            if unknown:
                raise ValueError(f"names no receiver of the list: {unknown}")
        except (OSError, ValueError, KeyError, TypeError) as e:
            why = f"--members-file {path}: " + (
                f"no {e} key" if isinstance(e, KeyError) else str(getattr(e, "strerror", "") or e)
            )
            if initial:
                raise ValueError(why) from None
            log.warning("%s; keeping the members as they are", why)
            return
        self._members_mtime = st.st_mtime_ns
        self.open = is_open
        now, wanted = time.time(), set(names)
        for name, p in self.peers.items():
            if name in wanted and not p.member:
                p.member, p.joined_at, p.left_at = True, now, None
                p.state, p.missing, p.answer, p.answered = "silent", {}, None, False
            elif name not in wanted and p.member:
                p.member = False
                if initial:
                    p.state = "absent"
                else:
                    p.state, p.left_at = "left", now
            else:
                continue
            if not initial:
                self.c.member_changes += 1
                log.info("%s %s", name, "joins" if p.member else "leaves")
        self.members_version += 1

    # -- datagrams ---------------------------------------------------------------------
    def _build(self, f: int, c: int, rnd: int, flags: int) -> int:
        """Write the datagram of chunk c of file f at buf[o:]; return its length."""
        C = self.C
        off = c * C
        plen = min(C, self.m.files[f].size - off)
        o = self.o
        buf = self.buf
        src = self._src[f]
        assert src is not None
        buf[o + HEADER_LEN : o + HEADER_LEN + plen] = src[off : off + plen]
        HEADER.pack_into(
            buf, o, MAGIC, VERSION, MsgType.DATA, flags, 0, f, self.mid, c,
            self.counts[f], C, plen, rnd, self.cfg.session, 0,
        )  # fmt: skip
        n = HEADER_LEN + plen
        _CRC.pack_into(buf, o + 32, crc32(self.view[o : o + n]))
        self.c.datagrams += 1
        return n

    def datagram(self, f: int, c: int, rnd: int = 0, flags: int = 0) -> bytes:
        """A copy of the datagram of chunk c of file f (for checks and benchmarks)."""
        n = self._build(f, c, rnd, flags)
        return bytes(self.view[self.o : self.o + n])

    def _control_dgram(self, mtype: MsgType, seq: int) -> bytes:
        b = bytearray(HEADER_LEN)
        HEADER.pack_into(
            b, 0, MAGIC, VERSION, mtype, 0, 0, 0, self.mid, seq, 0, 0, 0, self.rounds,
            self.cfg.session, 0,
        )  # fmt: skip
        _CRC.pack_into(b, 32, crc32(b))
        return bytes(b)

    def _counted(self, wire: int, repair: bool) -> None:
        c = self.c
        c.copies += 1
        c.wire_bytes += wire
        if repair:
            c.repair_copies += 1
        else:
            c.first_pass_copies += 1

    def _unicast(self, n: int, names, repair: bool) -> None:  # type: ignore[no-untyped-def]
        data = self.view[self.o : self.o + n]
        wire = ETH_LEN + IPV4_LEN + UDP_LEN + n
        for name in names:
            addr = self._addr[name]
            if self._take is not None:
                self._take(wire)
            if self._drop and self.rng.random() < self._drop:
                self.c.dropped_on_purpose += 1
                continue
            try:
                self.udp.sendto(data, addr)
            except OSError:
                if not send_udp(self.udp, data, addr, self.st):
                    continue
            self._counted(wire, repair)

    def _group(self, n: int) -> None:
        wire = ETH_LEN + IPV4_LEN + UDP_LEN + n
        if self._take is not None:
            self._take(wire)
        if self._drop and self.rng.random() < self._drop:
            self.c.dropped_on_purpose += 1
            return
        data = self.view[self.o : self.o + n]
        if send_udp(self.udp, data, (self.cfg.group, self.cfg.data_port), self.st):
            self._counted(wire, False)

    def _frame(self, n: int, repair: bool) -> None:
        assert self.tpl is not None and self.raw is not None
        frame = self.tpl.finish(n)
        wire = len(frame)
        if self._take is not None:
            self._take(wire)
        if self._drop and self.rng.random() < self._drop:
            self.c.dropped_on_purpose += 1
            return
        try:
            self.raw.send(frame)
        except OSError:  # queue full and the like: retried, counted
            if not send_raw(self.raw, frame, self.st):
                return
        self._counted(wire, repair)

    def _set_prefix(self, p: bytes) -> None:
        if p is not self._prefix:
            assert self.tpl is not None
            self.tpl.set_l2_prefix(p)
            self._prefix = p

    def _stamp(self, last: bool) -> None:
        now = time.time()
        if self.first_packet_at is None:
            self.first_packet_at = now
        if last:
            self.last_packet_at = now

    # -- phases ------------------------------------------------------------------------
    def first_pass(self) -> None:
        tech = self.cfg.technology
        version = self.members_version
        everyone = self.members()
        prefixes = self._bier_prefixes(everyone) if tech == Technology.BIER else [b""]
        total = sum(self.counts)
        copies = total * (len(everyone) if tech == Technology.UNICAST else len(prefixes))
        log.info(
            "first pass: model %s, %d chunks of %d bytes, %s to %d receivers, session %d",
            self.m.model_id, total, self.C, tech, len(everyone), self.cfg.session,
        )  # fmt: skip
        self._stamp(False)
        follow = self.cfg.members_file is not None
        mono, next_look = time.monotonic, time.monotonic() + MEMBERS_LOOK_S
        with self._progress("first pass", copies) as advance:
            for f, count in enumerate(self.counts):
                for c in range(count):
                    if follow and mono() >= next_look:  # joins and leaves take effect soon
                        next_look = mono() + MEMBERS_LOOK_S
                        self._drain()
                    if version != self.members_version:  # joined or left: new targets
                        version, everyone = self.members_version, self.members()
                        if tech == Technology.BIER:
                            prefixes = self._bier_prefixes(everyone)
                    n = self._build(f, c, 0, 0)
                    if tech == Technology.UNICAST:
                        self._unicast(n, everyone, False)
                    elif tech.ip_multicast:  # plain IP multicast: the routers replicate
                        self._group(n)
                    else:
                        for p in prefixes:
                            if tech == Technology.BIER:
                                self._set_prefix(p)
                            self._frame(n, False)
                    if c & 255 == 255:
                        self._drain()
                        advance(256 * (copies // max(total, 1)))
        self._stamp(True)
        self.first_pass_done_at = self.last_packet_at
        log.info("first pass done: %d copies sent", self.c.first_pass_copies)

    def repair(self, needs: dict[int, dict[int, frozenset[str]]]) -> None:
        """Resend each needed chunk to exactly the receivers that miss it."""
        self.rounds += 1
        tech = self.cfg.technology
        total = sum(len(rs) for per in needs.values() for rs in per.values())
        last: frozenset[str] | None = None
        prefixes: list[bytes] = []
        with self._progress(f"repair {self.rounds}", total) as advance:
            k = 0
            for f, per in needs.items():
                for c, names in per.items():
                    n = self._build(f, c, self.rounds, FLAG_REPAIR)
                    self.c.chunks_repaired += len(names)
                    if tech == Technology.BIER:
                        if names != last:
                            prefixes, last = self._bier_prefixes(names), names
                        for p in prefixes:
                            self._set_prefix(p)
                            self._frame(n, True)
                    else:  # SR-P2MP, PIM-SM and unicast: one unicast copy each
                        self._unicast(n, sorted(names), True)
                    k += 1
                    if k & 255 == 0:
                        self._drain()
                        advance(256)
        self._stamp(True)

    def _progress(self, label: str, total: int):  # type: ignore[no-untyped-def]
        if not self.cfg.progress:
            return contextlib.nullcontext(lambda n: None)
        return _RichProgress(label, total)

    # -- control -----------------------------------------------------------------------
    def _drain(self) -> None:
        """Read pending control datagrams; also pick up a new root SID (SR-P2MP) and a change
        of members."""
        if self.cfg.root_sid_file is not None:
            self._check_root_sid()
        if self.cfg.members_file is not None:
            self._read_members()
        while True:
            try:
                data, _addr = self.ctl.recvfrom(4096)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            self._on_control(data)

    def _on_control(self, data: bytes) -> None:
        try:
            msg = decode_control(data)
        except ValueError as e:
            self.c.bad_control += 1
            log.debug("%s", e)
            return
        peer = self.peers.get(msg.receiver)
        if msg.model_id != self.m.model_id or peer is None:
            self.c.bad_control += 1
            return
        self._apply(peer, msg)

    def _apply(self, peer: Peer, msg: ControlMsg) -> None:
        if not peer.member:  # not (or no longer) receiving: nothing it says counts
            self.c.stale_nacks += msg.type == "nack"
            return
        if msg.type == "done":
            self.c.reports_received += 1
            if peer.state != "done":
                peer.state, peer.done_at, peer.missing = "done", time.time(), {}
            peer.answered = True
            return
        if msg.type == "fail":
            self.c.reports_received += 1
            peer.state, peer.error, peer.answered = "failed", msg.error, True
            return
        self.c.nacks_received += 1
        if peer.state in ("done", "failed"):
            return
        if msg.poll != self.poll_seq or self.poll_seq == 0:
            # Unasked (hello, idle) or an answer to an older POLL: the receiver may have got
            # more since. It says the receiver is alive and, for the final account, what it
            # lacked; repairs follow only answers to the current POLL.
            self.c.stale_nacks += 1
            if peer.state == "silent" or msg.poll == 0:
                peer.state = "missing"
                if not peer.missing or peer.answer is None:
                    peer.missing = dict(msg.missing)
            return
        peer.state = "missing"
        if peer.answer is None:
            peer.answer = {}
        for f, ranges in msg.missing.items():
            peer.answer.setdefault(f, []).extend(ranges)
        if not msg.more:
            peer.missing, peer.answer, peer.answered = peer.answer, None, True

    def poll(self) -> dict[str, dict[int, list[tuple[int, int | None]]]]:
        """POLL every unfinished receiver and collect complete answers for poll_wait."""
        self._drain()
        for p in self.peers.values():  # answers collected while sending are stale
            p.answered, p.answer = False, None
        self.poll_seq += 1
        dgram = self._control_dgram(MsgType.POLL, self.poll_seq)
        waiting = [p for p in self.peers.values() if p.member and p.state not in ("done", "failed")]
        for p in waiting:
            send_udp(self.udp, dgram, (p.spec.ip, p.spec.port), self.st)
            self.c.polls_sent += 1
        end = time.monotonic() + self.cfg.poll_wait
        while waiting and not all(p.answered for p in waiting):
            left = end - time.monotonic()
            if left <= 0:
                break
            r, _, _ = select.select([self.ctl], [], [], left)
            if r:
                self._drain()
        return {
            p.spec.name: p.missing
            for p in waiting
            if p.answered and p.state == "missing" and p.missing
        }

    def fin(self) -> None:
        dgram = self._control_dgram(MsgType.FIN, self.poll_seq)
        for _ in range(3):
            for p in self.peers.values():
                if p.state == "absent":  # never joined: nothing runs there for us
                    continue
                if send_udp(self.udp, dgram, (p.spec.ip, p.spec.port), self.st):
                    self.c.fins_sent += 1
            time.sleep(0.01)

    # -- run ---------------------------------------------------------------------------
    def run(self) -> int:
        deadline = time.monotonic() + self.cfg.deadline
        self.open_raw()
        try:
            self.first_pass()
            while time.monotonic() < deadline:
                if self._all_done():
                    if not self.open:
                        break
                    self._wait_for_joiners()
                    continue
                reports = self.poll()
                needs = merge_needs(reports, self.counts)
                if needs:
                    self.repair(needs)
            self.fin()
        finally:
            self._write_record()
        return EXIT_COMPLETE if self._all_done(ok_only=True) else EXIT_INCOMPLETE

    def _all_done(self, ok_only: bool = False) -> bool:
        """Every member is done (or failed, unless `ok_only`)."""
        end = ("done",) if ok_only else ("done", "failed")
        return all(p.state in end for p in self.peers.values() if p.member)

    def _wait_for_joiners(self) -> None:
        """The session is open and every member done: read control and membership a while."""
        select.select([self.ctl], [], [], self.cfg.poll_wait)
        self._drain()

    def record(self) -> SenderRecord:
        self.c.send_errors = self.st.errors
        names = [f.name for f in self.m.files]
        statuses = []
        for p in self.peers.values():
            missing = {
                names[f]: [(s, self.counts[f] if e is None else e) for s, e in rs]
                for f, rs in sorted(p.missing.items())
                if 0 <= f < len(names)
            }
            if p.state == "silent":  # never heard of: everything is missing as far as we know
                missing = {f.name: [(0, self.counts[i])] for i, f in enumerate(self.m.files)}
            statuses.append(
                ReceiverStatus(
                    name=p.spec.name,
                    ip=p.spec.ip,
                    bfr_id=p.spec.bfr_id,
                    state=p.state,  # type: ignore[arg-type]
                    done_at=p.done_at,
                    error=p.error,
                    missing=missing if p.member and p.state != "done" else {},
                    joined_at=p.joined_at,
                    left_at=p.left_at,
                )
            )
        ok = self._all_done(ok_only=True)
        return SenderRecord(
            technology=self.cfg.technology,
            model_id=self.m.model_id,
            model_name=self.m.name,
            total_size=self.m.total_size,
            files=len(self.m.files),
            chunk_size=self.C,
            chunks=sum(self.counts),
            rate_mbps=self.cfg.rate_mbps or None,
            session=self.cfg.session,
            outcome="complete" if ok else "incomplete",
            started_at=self.started_at,
            first_packet_at=self.first_packet_at,
            last_packet_at=self.last_packet_at,
            first_pass_done_at=self.first_pass_done_at,
            ended_at=time.time(),
            cpu_s=process_cpu_s(),
            rounds=self.rounds,
            counters=SenderCounters(**dataclasses.asdict(self.c)),
            receivers=statuses,
        )

    def _write_record(self) -> None:
        self.last_record = self.record()
        if self.cfg.record is not None:
            self.cfg.record.parent.mkdir(parents=True, exist_ok=True)
            self.cfg.record.write_text(self.last_record.model_dump_json(indent=2) + "\n")

    def close(self) -> None:
        for s in (self.udp, self.ctl, self.raw):
            if s is not None:
                s.close()
        for v in self._src:
            if v is not None:
                v.release()
        self._src = []
        for mm in self._maps:
            if mm is not None:
                mm.close()


class _RichProgress:
    """A rich progress bar on stderr (only used when stderr is a terminal)."""

    def __init__(self, label: str, total: int) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            ProgressColumn,
            Task,
            TimeElapsedColumn,
        )
        from rich.text import Text

        class Rate(ProgressColumn):
            def render(self, task: Task) -> Text:
                return Text(f"{task.speed:,.0f} copies/s" if task.speed else "")

        self.p = Progress(
            "[bold]{task.description}", BarColumn(), MofNCompleteColumn(), Rate(),
            TimeElapsedColumn(), transient=False,
        )  # fmt: skip
        self.task = self.p.add_task(label, total=total)

    def __enter__(self):  # type: ignore[no-untyped-def]
        self.p.start()
        return lambda n: self.p.advance(self.task, n)

    def __exit__(self, *exc: object) -> None:
        self.p.update(self.task, completed=self.p.tasks[0].total)
        self.p.stop()


__all__ = ["Sender", "SenderConfig"]
