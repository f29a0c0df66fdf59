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


def test_forged_content_with_valid_crc_fails_sha_and_is_asked_again(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.safetensors").write_bytes(os.urandom(5000))
    m = build_manifest(src)
    s = chunker(src, m)
    dgrams = all_datagrams(s)
    evil = bytearray(dgrams[1])
    evil[HEADER_LEN] ^= 0xFF
    struct.pack_into("!I", evil, 32, 0)
    struct.pack_into("!I", evil, 32, zlib.crc32(evil))
    rx = Reassembler(m, tmp_path / "out")
    rx.open(0.0)
    for x in [dgrams[0], bytes(evil), *dgrams[2:]]:
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

    def full(fd: int, data: object, off: int) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "pwrite", full)
    with pytest.raises(DiskError, match=rf"write chunk 2 of .*{m.files[1].name}.*ENOSPC"):
        rx.handle(x, 1.0)
    assert rx.counters.accepted == 0
    assert rx.files[1].bitmap[2] == 0 and rx.files[1].received == 0
    s.close()
    rx.close()
