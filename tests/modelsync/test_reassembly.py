"""Chunking and reassembly: round trips, reordering, duplicates, bad datagrams, disk errors."""

from __future__ import annotations

import errno
import os
import random
import struct
import zlib
from pathlib import Path

import pytest

from modelsync.manifest import build_manifest, sha256_file
from modelsync.reassembly import DiskError, Reassembler
from wire.delivery import HEADER_LEN, DeliveryHeader, MsgType, decode, encode

from .helpers import all_datagrams, chunker, small_model


def _files_equal(src: Path, dst: Path, m) -> None:  # type: ignore[no-untyped-def]
    for f in m.files:
        assert sha256_file(dst / f.name) == f.sha256 == sha256_file(src / f.name)
        assert not (dst / (f.name + ".part")).exists()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_round_trip_random_sizes_shuffled_with_duplicates(tmp_path: Path, seed: int) -> None:
    rnd = random.Random(seed)
    src = tmp_path / "src"
    src.mkdir()
    # Files of random sizes, including one byte, an exact multiple of the chunk and empty.
    mtu = rnd.choice([576, 1500, 9000])
    s0 = chunker(*_dummy(tmp_path), mtu=mtu)
    C = s0.C
    s0.close()
    sizes = [rnd.randrange(1, 200_000), 1, 3 * C, 0, rnd.randrange(C, 4 * C)]
    for i, n in enumerate(sizes):
        (src / f"f{i}.safetensors").write_bytes(rnd.randbytes(n))
    m = build_manifest(src)
    s = chunker(src, m, mtu=mtu)
    dgrams = all_datagrams(s)
    s.close()
    assert len(dgrams) == sum(-(-n // C) for n in sizes)
    extra = rnd.sample(dgrams, len(dgrams) // 5)
    stream = dgrams + extra
    rnd.shuffle(stream)
    rx = Reassembler(m, tmp_path / "out")
    rx.open(0.0)
    for d in stream:
        assert rx.handle(d, 1.0) is None
    assert rx.done
    c = rx.counters
    assert (c.accepted, c.duplicates, c.corrupt) == (len(dgrams), len(extra), 0)
    assert c.payload_bytes == sum(sizes)
    _files_equal(src, tmp_path / "out", m)
    assert all(r.verified and r.missing == [] for r in rx.file_records())
    rx.close()


def _dummy(tmp_path: Path):  # type: ignore[no-untyped-def]
    m = small_model(tmp_path / "dummy", 100_000, 1)
    return tmp_path / "dummy", m


def test_missing_ranges_and_repair_flag(tmp_path: Path) -> None:
    d, m = _dummy(tmp_path)
    s = chunker(d, m)
    dgrams = all_datagrams(s)
    rx = Reassembler(m, tmp_path / "out")
    rx.open(0.0)
    shard = next(i for i, f in enumerate(m.files) if f.name.endswith(".safetensors"))
    per = [decode(x) for x in dgrams]
    idx = [i for i, h in enumerate(per) if h.shard == shard]
    skip = {idx[3], idx[4], idx[10]}
    for i, x in enumerate(dgrams):
        if i not in skip:
            rx.handle(x, 1.0)
    assert rx.missing() == {shard: [(3, 5), (10, 11)]}
    assert not rx.done
    for c in (3, 4, 10):
        rx.handle(s.datagram(shard, c, rnd=1, flags=1), 2.0)
    assert rx.done and rx.counters.repaired == 3
    s.close()
    rx.close()


def test_unknown_file_is_all_missing(tmp_path: Path) -> None:
    _d, m = _dummy(tmp_path)
    rx = Reassembler(m, tmp_path / "out")
    rx.open(0.0)
    assert rx.missing() == {i: [(0, None)] for i, f in enumerate(m.files) if f.size}
    rx.close()


def test_bad_datagrams_counted_by_reason(tmp_path: Path) -> None:
    d, m = _dummy(tmp_path)
    s = chunker(d, m)
    good = s.datagram(0, 0)
    h = decode(good)
    payload = good[HEADER_LEN:]
    rx = Reassembler(m, tmp_path / "out")
    rx.open(0.0)

    def forged(**kw: int) -> bytes:
        fields = {k: getattr(h, k) for k in DeliveryHeader.__dataclass_fields__}
        fields.update(kw)
        pl = payload[: fields["payload_len"]]
        return encode(DeliveryHeader(**fields), pl)

    bad = [
        good[:10],  # truncated
        good[:-3],  # bad_length
        good[:40] + bytes([good[40] ^ 0xFF]) + good[41:],  # bad_crc
        forged(model_id=h.model_id ^ 1),  # foreign model
        forged(shard=999),  # bad_shard
        forged(chunk=h.chunk_count),  # bad_range
        forged(chunk_count=h.chunk_count + 1),  # bad_range
        forged(payload_len=h.payload_len - 1),  # bad_range
    ]
    for x in bad:
        assert rx.handle(x, 1.0) is None
    c = rx.counters
    assert c.corrupt == 7 and c.foreign_model == 1 and c.accepted == 0
    assert c.corrupt_reasons == {
        "truncated": 1,
        "bad_length": 1,
        "bad_crc": 1,
        "bad_shard": 1,
        "bad_range": 3,
    }
    poll = encode(DeliveryHeader(MsgType.POLL, 0, h.model_id, 7, 0, 0, 0))
    assert rx.handle(poll, 1.0).chunk == 7  # type: ignore[union-attr]
    s.close()
    rx.close()


def _forged(datagram: bytes) -> bytes:
    """The datagram with its first payload byte changed and a CRC-32 that matches again."""
    evil = bytearray(datagram)
    evil[HEADER_LEN] ^= 0xFF
    struct.pack_into("!I", evil, 32, 0)
    struct.pack_into("!I", evil, 32, zlib.crc32(evil))
    return bytes(evil)


def test_forged_content_with_valid_crc_fails_sha_and_is_asked_again(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.safetensors").write_bytes(os.urandom(5000))
    m = build_manifest(src)
    s = chunker(src, m)
    dgrams = all_datagrams(s)
    evil = _forged(dgrams[1])
    rx = Reassembler(m, tmp_path / "out")
    rx.open(0.0)
    for x in [dgrams[0], evil, *dgrams[2:]]:
        rx.handle(x, 1.0)
    assert not rx.done and rx.counters.verify_failures == 1
    assert rx.missing() == {0: [(0, len(dgrams))]}
    for x in dgrams:
        rx.handle(x, 2.0)
    assert rx.done
    s.close()
    rx.close()


def test_restarted_receiver_keeps_verified_files(tmp_path: Path) -> None:
    d, m = _dummy(tmp_path)
    s = chunker(d, m)
    dgrams = all_datagrams(s)
    rx = Reassembler(m, tmp_path / "out")
    rx.open(0.0)
    for x in dgrams:
        rx.handle(x, 1.0)
    rx.close()
    again = Reassembler(m, tmp_path / "out")
    again.open(2.0)
    assert again.done and again.missing() == {}
    again.close()
    s.close()


def test_disk_full_on_preallocate_is_named(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    _d, m = _dummy(tmp_path)

    def full(fd: int, off: int, n: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", full)
    rx = Reassembler(m, tmp_path / "out")
    with pytest.raises(DiskError, match=r"config.json.*disk full \(ENOSPC\)"):
        rx.open(0.0)
    rx.close()


def test_disk_full_on_write_is_named(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    d, m = _dummy(tmp_path)
    s = chunker(d, m)
    x = s.datagram(1, 2)
    rx = Reassembler(m, tmp_path / "out")
    rx.open(0.0)

    def full(fd: int, buffers: object, off: int) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "pwritev", full)
    with pytest.raises(DiskError, match=rf"write chunk 2 of .*{m.files[1].name}.*ENOSPC"):
        rx.handle(x, 1.0)
    assert rx.counters.accepted == 0
    assert rx.files[1].bitmap[2] == 0 and rx.files[1].received == 0
    s.close()
    rx.close()


class _Counting:
    """Wraps an os function, counting calls and the bytes they moved."""

    def __init__(self, fn):  # type: ignore[no-untyped-def]
        self.fn, self.calls, self.bytes = fn, 0, 0

    def __call__(self, *args):  # type: ignore[no-untyped-def]
        self.calls += 1
        out = self.fn(*args)
        self.bytes += out if isinstance(out, int) else len(out)
        return out


def test_batches_write_consecutive_chunks_at_once_and_never_read_back(
    tmp_path: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    m = small_model(tmp_path / "model", 600_000, 3, seed=4)
    s = chunker(tmp_path / "model", m, mtu=1500)
    dgrams = all_datagrams(s)
    files = [decode(d).shard for d in dgrams]
    s.close()
    pwritev, pread = _Counting(os.pwritev), _Counting(os.pread)
    monkeypatch.setattr(os, "pwritev", pwritev)
    monkeypatch.setattr(os, "pread", pread)
    rx = Reassembler(m, tmp_path / "out")
    rx.open(0.0)
    for i in range(0, len(dgrams), 64):
        assert rx.handle_batch([memoryview(d) for d in dgrams[i : i + 64]], 1.0) == []
    assert rx.done
    # one write per file present in a batch, whatever the number of its chunks there
    runs = sum(len(set(files[i : i + 64])) for i in range(0, len(dgrams), 64))
    assert pwritev.calls == runs < len(dgrams) / 10
    assert pwritev.bytes == m.total_size
    assert pread.calls == 0  # in order: every file hashed as it arrived
    _files_equal(tmp_path / "model", tmp_path / "out", m)
    rx.close()


def test_a_gap_is_read_back_from_where_it_begins(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    m = small_model(tmp_path / "model", 300_000, 1, seed=5)
    s = chunker(tmp_path / "model", m, mtu=1500)
    shard = next(i for i, f in enumerate(m.files) if f.name.endswith(".safetensors"))
    n, size = s.counts[shard], m.files[shard].size
    late = 7  # chunk 7 comes last: everything after it is read back once, nothing before
    order = [c for c in range(n) if c != late] + [late]
    batch = [memoryview(s.datagram(shard, c)) for c in order]
    pread = _Counting(os.pread)
    monkeypatch.setattr(os, "pread", pread)
    rx = Reassembler(m, tmp_path / "out")
    rx.open(0.0)
    for f in range(len(m.files)):  # the other files, in order
        if f != shard:
            rx.handle_batch([memoryview(s.datagram(f, c)) for c in range(s.counts[f])], 1.0)
    rx.handle_batch(batch[: n - 1], 1.0)
    assert not rx.files[shard].verified and pread.calls == 0
    rx.handle_batch(batch[n - 1 :], 1.0)
    assert rx.done and rx.files[shard].verified
    assert pread.bytes == size - (late + 1) * s.C
    assert sha256_file(tmp_path / "out" / m.files[shard].name) == m.files[shard].sha256
    s.close()
    rx.close()


def test_a_batch_with_duplicates_polls_and_garbage(tmp_path: Path) -> None:
    d, m = _dummy(tmp_path)
    s = chunker(d, m)
    dgrams = all_datagrams(s)
    poll = encode(DeliveryHeader(MsgType.POLL, 0, m.model_id_int, 7, 0, 0, 0))
    rx = Reassembler(m, tmp_path / "out")
    rx.open(0.0)
    stream = [dgrams[0], dgrams[0], b"garbage", poll, *dgrams[1:], dgrams[1]]
    got = rx.handle_batch([memoryview(x) for x in stream], 1.0)
    assert [(i, h.type, h.chunk) for i, h in got] == [(3, MsgType.POLL, 7)]
    assert rx.done
    c = rx.counters
    assert (c.accepted, c.duplicates, c.corrupt) == (len(dgrams), 2, 1)
    _files_equal(d, tmp_path / "out", m)
    s.close()
    rx.close()


def test_receivers_sharing_a_store_keep_one_copy(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import modelsync.launch as launch

    m = small_model(tmp_path / "model", 300_000, 3, seed=6)
    s = chunker(tmp_path / "model", m, mtu=9000)
    dgrams = all_datagrams(s)
    s.close()
    store = tmp_path / "work" / ".store"
    rxs = [Reassembler(m, tmp_path / "work" / h, store=store) for h in ("g1", "g2")]
    for rx in rxs:
        rx.open(0.0)
        # space is taken as each file starts: nothing yet but the empty files
        assert sorted(p.name for p in rx.out_dir.iterdir()) == sorted(
            f.name for f in m.files if f.size == 0
        )
        rx.handle_batch([memoryview(d) for d in dgrams], 1.0)
        assert rx.done
        rx.close()
    for f in m.files:
        a, b = (tmp_path / "work" / h / f.name for h in ("g1", "g2"))
        assert a.stat().st_ino == b.stat().st_ino == (store / f"{f.sha256}-{f.size}").stat().st_ino
        assert a.stat().st_nlink == 3 and sha256_file(a) == f.sha256
    assert len(list(store.iterdir())) == len({(f.sha256, f.size) for f in m.files})
    # the launcher's own check hashes each copy once, however many receivers link it
    calls: list[Path] = []
    real = launch.sha256_file
    monkeypatch.setattr(launch, "sha256_file", lambda p: calls.append(p) or real(p))
    hashed: dict[tuple[int, int], str] = {}
    assert all(launch.verify_on_disk(m, tmp_path / "work" / h, hashed) for h in ("g1", "g2"))
    assert len(calls) == len({(f.sha256, f.size) for f in m.files})
    (tmp_path / "work" / "g2" / m.files[0].name).unlink()
    assert not launch.verify_on_disk(m, tmp_path / "work" / "g2", hashed)


def test_a_seeded_store_means_only_chunks_out_of_order_are_written(
    tmp_path: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    from modelsync.store import seed, stored

    m = small_model(tmp_path / "model", 300_000, 1, seed=8)
    s = chunker(tmp_path / "model", m, mtu=1500)
    shard = next(i for i, f in enumerate(m.files) if f.name.endswith(".safetensors"))
    n, size = s.counts[shard], m.files[shard].size
    store = tmp_path / "work" / ".store"
    assert seed(store, tmp_path / "model", m) == len({(f.sha256, f.size) for f in m.files})
    assert seed(store, tmp_path / "model", m) == 0  # there already
    pwritev, pread = _Counting(os.pwritev), _Counting(os.pread)
    monkeypatch.setattr(os, "pwritev", pwritev)
    monkeypatch.setattr(os, "pread", pread)
    rx = Reassembler(m, tmp_path / "work" / "g1", store=store)
    rx.open(0.0)
    for f in range(len(m.files)):  # the other files, in order: hashed, never written
        if f != shard:
            rx.handle_batch([memoryview(s.datagram(f, c)) for c in range(s.counts[f])], 1.0)
    assert pwritev.calls == 0 and pread.calls == 0
    late = 7  # chunk 7 comes last: what came after it is written and read back, nothing else
    order = [c for c in range(n) if c != late] + [late]
    rx.handle_batch([memoryview(s.datagram(shard, c)) for c in order], 1.0)
    assert rx.done
    after = size - (late + 1) * s.C
    assert pwritev.bytes == pread.bytes == after
    for f in m.files:  # every file is the store's copy, which is the model's own file
        out = tmp_path / "work" / "g1" / f.name
        assert out.stat().st_ino == stored(store, f).stat().st_ino
        assert sha256_file(out) == f.sha256
    assert not list((tmp_path / "work" / "g1").glob("*.part"))
    s.close()
    rx.close()


def test_a_seeded_store_still_refuses_forged_content(tmp_path: Path) -> None:
    from modelsync.store import seed, stored

    src = tmp_path / "src"
    src.mkdir()
    (src / "a.safetensors").write_bytes(os.urandom(5000))
    m = build_manifest(src)
    store = tmp_path / ".store"
    seed(store, src, m)
    s = chunker(src, m)
    dgrams = all_datagrams(s)
    evil = _forged(dgrams[1])
    rx = Reassembler(m, tmp_path / "out", store=store)
    rx.open(0.0)
    for x in [dgrams[0], evil, *dgrams[2:]]:
        rx.handle(x, 1.0)
    assert not rx.done and rx.counters.verify_failures == 1
    assert not (tmp_path / "out" / "a.safetensors").exists()
    for x in dgrams:
        rx.handle(x, 2.0)
    assert rx.done
    out = tmp_path / "out" / "a.safetensors"
    assert out.stat().st_ino == stored(store, m.files[0]).stat().st_ino
    s.close()
    rx.close()


def test_seed_leaves_out_a_model_file_that_differs(tmp_path: Path) -> None:
    from modelsync.store import seed, stored

    m = small_model(tmp_path / "model", 100_000, 2, seed=9)
    bad = next(f for f in m.files if f.size > 0)
    p = tmp_path / "model" / bad.name
    p.write_bytes(b"\0" * bad.size)  # same size, other bytes
    store = tmp_path / ".store"
    seed(store, tmp_path / "model", m)
    assert not stored(store, bad).exists()
    assert all(stored(store, f).is_file() for f in m.files if f.sha256 != bad.sha256)
