"""Reassembly of chunks into preallocated files, with sha256 verification per file.

No sockets here: `Reassembler.handle()` takes one datagram and `handle_batch()` a batch of
them (what modelsync.batchrecv receives in one system call) and update files and counters,
so that round trips, reordering, duplicates and corruption are unit-testable.

Costs per chunk stay flat however large the model: a batch's chunks that follow each other
in a file are written with one pwritev, and a file's sha256 is computed as its chunks arrive
in order (from the bytes being written), so that verifying a file reads back from disk only
what came after its first gap (nothing, when no chunk was lost).

With a store (modelsync.store: a folder shared by the receivers of one machine), many
receivers on one disk keep one copy of each file: a verified file is hard-linked into the
store under its sha256 (the first receiver's copy becomes the store's), or, when the store has
it already, replaced by a link to the store's copy; and a file's space is reserved when its
first chunk comes, not all at start, so that the disk holds the files being received and one
copy of the rest. A file the store holds when its first chunk comes is not written twice:
the chunks hashed on arrival are not written at all, only those that come out of order (to
be read back and hashed at the end); once every byte's sha256 matches, the file is the
store's copy.
"""

from __future__ import annotations

import errno
import hashlib
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from modelsync.control import missing_ranges
from modelsync.manifest import FileEntry, Manifest
from modelsync.records import Counters, FileRecord
from modelsync.store import stored
from wire.codec import (
    CRC_OFFSET,
    FLAG_REPAIR,
    HEADER,
    HEADER_LEN,
    MAGIC,
    VERSION,
    BadDatagram,
    DeliveryHeader,
    MsgType,
    crc32,
    decode,
)

_unpack = HEADER.unpack_from
_crc32 = crc32
_ZERO4 = b"\0\0\0\0"


@dataclass
class RxCounters:
    """Plain counters for the hot loop (pydantic attribute writes are slow); `record()` gives
    the documented pydantic `Counters`."""

    datagrams: int = 0
    bytes: int = 0
    accepted: int = 0
    payload_bytes: int = 0
    duplicates: int = 0
    duplicate_bytes: int = 0
    corrupt: int = 0
    corrupt_reasons: dict[str, int] = field(default_factory=dict)
    foreign_model: int = 0
    repaired: int = 0
    repaired_bytes: int = 0
    polls: int = 0
    nacks_sent: int = 0
    nack_chunks: int = 0
    reports_sent: int = 0
    verify_failures: int = 0

    def record(self) -> Counters:
        return Counters(**asdict(self))


class DiskError(RuntimeError):
    """Writing the model failed (ENOSPC and the like); the message names file and cause."""


@dataclass
class FileState:
    index: int
    entry: FileEntry
    part: Path
    final: Path
    fd: int = -1
    chunk_size: int = 0
    count: int = 0
    bitmap: bytearray = field(default_factory=bytearray)
    received: int = 0
    verified: bool = False
    verified_at: float | None = None
    hasher: Any = None  # sha256 of the bytes [0, hashed_to) of the file, as they arrived
    hashed_to: int = 0
    # False: the store holds this file, so chunks hashed on arrival are not written (the
    # verified file becomes a link to the store's copy)
    write_all: bool = True

    def missing(self) -> list[tuple[int, int | None]]:
        if self.verified:
            return []
        if self.chunk_size == 0:
            return [(0, None)]  # chunk count not known yet: everything
        return list(missing_ranges(self.bitmap))

    def record(self) -> FileRecord:
        return FileRecord(
            index=self.index,
            name=self.entry.name,
            size=self.entry.size,
            chunks=self.count,
            received=self.count if self.verified else self.received,
            verified=self.verified,
            verified_at=self.verified_at,
            missing=[(s, self.count if e is None else e) for s, e in self.missing()],
        )


def _sha256_fd(fd: int, size: int) -> str:
    h = hashlib.sha256()
    off = 0
    while off < size:
        block = os.pread(fd, min(1 << 20, size - off), off)
        if not block:
            break
        h.update(block)
        off += len(block)
    return h.hexdigest()


class Reassembler:
    """Files of one model being received into `out_dir`."""

    def __init__(
        self,
        manifest: Manifest,
        out_dir: Path,
        counters: RxCounters | None = None,
        store: Path | None = None,
    ):
        self.manifest = manifest
        self.store = store
        self.model_id = manifest.model_id_int
        self.out_dir = Path(out_dir)
        self.counters = counters or RxCounters()
        self.files = [
            FileState(i, e, self.out_dir / (e.name + ".part"), self.out_dir / e.name)
            for i, e in enumerate(manifest.files)
        ]
        self.pending = len(self.files)  # files not yet verified
        self.complete_at: float | None = None
        self.verified_at: float | None = None
        # chunks accepted but not yet written: (fd, offset of the first, their payloads),
        # written by _flush() with one pwritev (a batch's consecutive chunks of one file)
        self._run_fd = -1
        self._run_start = 0
        self._run_end = 0
        self._run: list[memoryview] = []
        self._run_file: FileState | None = None

    # -- setup -------------------------------------------------------------------------
    def open(self, now: float) -> None:
        """Create the directory, keep files already verified on disk, preallocate the rest
        (with a store: as each file's first chunk comes).

        Raises DiskError naming the file when space cannot be reserved."""
        try:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            if self.store is not None:
                self.store.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise DiskError(f"{self.out_dir}: cannot create directory: {e.strerror}") from None
        for f in self.files:
            if f.final.is_file() and f.final.stat().st_size == f.entry.size:
                fd = os.open(f.final, os.O_RDONLY)
                try:
                    ok = _sha256_fd(fd, f.entry.size) == f.entry.sha256
                finally:
                    os.close(fd)
                if ok:  # a restarted receiver keeps what it verified before
                    self._mark_verified(f, now)
                    continue
            if self.store is None or f.entry.size == 0:
                self._allocate(f)
            if f.entry.size == 0:
                self._verify(f, now)

    def _allocate(self, f: FileState) -> None:
        """Open the file being received; reserve its space unless only the chunks that come
        out of order will be written (the store holds it)."""
        try:
            f.fd = os.open(f.part, os.O_RDWR | os.O_CREAT, 0o644)
            if f.write_all:
                self._preallocate(f)
            else:
                os.ftruncate(f.fd, f.entry.size)
        except OSError as e:
            raise DiskError(self._disk_msg(f, "preallocate", e)) from None

    def _preallocate(self, f: FileState) -> None:
        try:
            os.posix_fallocate(f.fd, 0, f.entry.size) if f.entry.size else None
        except OSError as e:
            if e.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
                raise
            os.ftruncate(f.fd, f.entry.size)  # filesystem without fallocate: sparse file

    def _disk_msg(self, f: FileState, what: str, e: OSError) -> str:
        why = "disk full (ENOSPC)" if e.errno == errno.ENOSPC else (e.strerror or str(e))
        return f"{f.part}: cannot {what} {f.entry.size} bytes for {f.entry.name}: {why}"

    def close(self) -> None:
        for f in self.files:
            if f.fd >= 0:
                os.close(f.fd)
                f.fd = -1

    # -- datagrams ---------------------------------------------------------------------
    def _corrupt(self, reason: str) -> None:
        c = self.counters
        c.corrupt += 1
        c.corrupt_reasons[reason] = c.corrupt_reasons.get(reason, 0) + 1

    def handle(self, data: bytes | bytearray | memoryview, now: float) -> DeliveryHeader | None:
        """Take one datagram. Returns the header of a valid POLL/FIN of this model (for the
        caller to act on), else None. Raises DiskError when a write fails."""
        try:
            return self._take(data, now)
        finally:
            self._flush()

    def handle_batch(
        self, datagrams: list[memoryview], now: float
    ) -> list[tuple[int, DeliveryHeader]]:
        """Take a batch of datagrams (valid until this returns): like `handle` for each, with
        consecutive chunks written together. Returns the POLL/FIN headers among them, each
        with its index in the batch."""
        out = []
        take = self._take
        try:
            for i, d in enumerate(datagrams):
                h = take(d, now)
                if h is not None:
                    out.append((i, h))
        finally:
            self._flush()
        return out

    def _take(self, data: bytes | bytearray | memoryview, now: float) -> DeliveryHeader | None:
        """One datagram; its payload is queued for _flush(). The checks are those of
        wire.codec.decode, inlined: this is the receiver's hot loop."""
        c = self.counters
        c.datagrams += 1
        n = len(data)
        c.bytes += n
        if n < HEADER_LEN:
            self._corrupt("truncated")
            return None
        (magic, version, mtype, flags, _r, shard, model_id, chunk, count, csize, plen, _rnd,
         _session, crc) = _unpack(data, 0)  # fmt: skip
        if magic != MAGIC or version != VERSION:
            self._corrupt("bad_magic" if magic != MAGIC else "bad_version")
            return None
        if n != HEADER_LEN + plen:
            self._corrupt("bad_length")
            return None
        mv = memoryview(data)
        if _crc32(mv[CRC_OFFSET + 4 :], _crc32(_ZERO4, _crc32(mv[:CRC_OFFSET]))) != crc:
            self._corrupt("bad_crc")
            return None
        if model_id != self.model_id:
            c.foreign_model += 1
            return None
        if mtype != MsgType.DATA:
            try:
                return decode(data)
            except BadDatagram as e:
                self._corrupt(e.reason)
                return None
        if shard >= len(self.files):
            self._corrupt("bad_shard")
            return None
        f = self.files[shard]
        if f.verified:
            c.duplicates += 1
            c.duplicate_bytes += plen
            return None
        size = f.entry.size
        offset = chunk * csize
        if (
            csize == 0
            or count != -(-size // csize)
            or chunk >= count
            or plen != min(csize, size - offset)
        ):
            self._corrupt("bad_range")
            return None
        if csize != f.chunk_size:
            # First datagram of the file, or a restarted sender with another chunk size:
            # progress under the old size cannot be mapped, start the file over.
            self._flush()
            if f.fd < 0:
                f.write_all = self.store is None or not stored(self.store, f.entry).is_file()
                self._allocate(f)
            f.chunk_size, f.count = csize, count
            f.bitmap = bytearray(count)
            f.received = 0
            f.hasher, f.hashed_to = hashlib.sha256(), 0
        if f.bitmap[chunk]:
            c.duplicates += 1
            c.duplicate_bytes += plen
            return None
        payload = mv[HEADER_LEN:]
        in_order = offset == f.hashed_to
        if in_order:  # hashed now, never read back
            f.hasher.update(payload)
            f.hashed_to += plen
        if f.write_all or not in_order:  # what the store holds and was hashed: not written
            if f.fd != self._run_fd or offset != self._run_end or len(self._run) >= 512:
                self._flush()
                self._run_fd, self._run_start, self._run_file = f.fd, offset, f
                self._run_end = offset
            self._run.append(payload)
            self._run_end += plen
        f.bitmap[chunk] = 1
        f.received += 1
        c.accepted += 1
        c.payload_bytes += plen
        if flags & FLAG_REPAIR:
            c.repaired += 1
            c.repaired_bytes += plen
        if f.received == f.count:
            if self.pending == 1:
                self.complete_at = now
            self._flush()
            self._verify(f, time.time())
        return None

    def _flush(self) -> None:
        """Write the queued run of consecutive chunks (one pwritev)."""
        run = self._run
        if not run:
            return
        f = self._run_file
        assert f is not None
        want = self._run_end - self._run_start
        try:
            done = os.pwritev(self._run_fd, run, self._run_start)
            if done != want:  # a regular file writes short only when the disk is full
                raise OSError(errno.ENOSPC, f"wrote {done} of {want} bytes")
        except OSError as e:
            first = self._run_start // max(f.chunk_size, 1)
            self._unmark(f, first, len(run), want)
            raise DiskError(self._disk_msg(f, f"write chunk {first} of", e)) from None
        finally:
            run.clear()
            self._run_fd = -1

    def _unmark(self, f: FileState, first: int, n: int, nbytes: int) -> None:
        """Chunks whose write failed are not received (and the file's hash starts over)."""
        for k in range(first, first + n):
            f.bitmap[k] = 0
        f.received -= n
        self.counters.accepted -= n
        self.counters.payload_bytes -= nbytes
        f.hasher, f.hashed_to = hashlib.sha256(), 0

    def _verify(self, f: FileState, now: float) -> None:
        h = f.hasher or hashlib.sha256()
        off = f.hashed_to if f.hasher is not None else 0
        while off < f.entry.size:  # what came after the first gap: read back from disk
            block = os.pread(f.fd, min(1 << 20, f.entry.size - off), off)
            if not block:
                break
            h.update(block)
            off += len(block)
        if h.hexdigest() != f.entry.sha256:
            # Cannot happen with CRC-checked chunks unless the disk or a forger lied: ask again.
            self.counters.verify_failures += 1
            f.bitmap = bytearray(f.count)
            f.received = 0
            f.hasher, f.hashed_to = hashlib.sha256(), 0
            return
        os.close(f.fd)
        f.fd = -1
        if not f.write_all:  # our bytes were hashed, not all kept: the store's copy is the file
            self._link_stored(f)
            f.part.unlink()
        else:
            os.replace(f.part, f.final)
            if self.store is not None:
                self._into_store(f)
        self._mark_verified(f, now)

    def _link_stored(self, f: FileState) -> None:
        """Make the final file a link to the store's copy."""
        assert self.store is not None
        tmp = f.final.with_name(f.final.name + ".link")
        try:
            os.link(stored(self.store, f.entry), tmp)
            os.replace(tmp, f.final)
        except OSError as e:
            raise DiskError(self._disk_msg(f, "link the store's copy for", e)) from None

    def _into_store(self, f: FileState) -> None:
        """One copy per store: ours becomes the store's, or ours is replaced by the store's
        (the same bytes: both were verified against the manifest's sha256)."""
        assert self.store is not None
        kept = stored(self.store, f.entry)
        try:
            os.link(f.final, kept)
        except FileExistsError:
            self._link_stored(f)
        except OSError as e:
            raise DiskError(self._disk_msg(f, "link into the store", e)) from None

    def _mark_verified(self, f: FileState, now: float) -> None:
        f.verified = True
        f.verified_at = now
        self.pending -= 1
        if self.pending == 0:
            self.verified_at = now
            if self.complete_at is None:
                self.complete_at = now

    # -- state -------------------------------------------------------------------------
    @property
    def done(self) -> bool:
        return self.pending == 0

    def missing(self) -> dict[int, list[tuple[int, int | None]]]:
        return {f.index: m for f in self.files if (m := f.missing())}

    def file_records(self) -> list[FileRecord]:
        return [f.record() for f in self.files]
