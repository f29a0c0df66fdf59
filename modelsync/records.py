"""JSON records written by the sender and every receiver, for the experiment runner.

Times are Unix epoch seconds (time.time()) so that records of processes on one machine can be
compared; durations are seconds. A receiver's completion time (docs/architecture.md) is
`ReceiverRecord.verified_at - SenderRecord.first_packet_at`.
"""

from __future__ import annotations

import resource
from typing import Literal

from pydantic import BaseModel, Field

from wire.technology import Technology

SCHEMA_VERSION = 1
Ranges = list[tuple[int, int]]  # half-open [start, end) chunk ranges


def process_cpu_s() -> float:
    """CPU seconds (user + system) this process has used so far."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


class FileRecord(BaseModel):
    index: int
    name: str
    size: int
    chunks: int = Field(description="chunk count (0 before the first datagram of the file)")
    received: int = Field(description="distinct chunks on disk")
    verified: bool = Field(description="sha256 on disk equals the manifest's")
    verified_at: float | None = None
    missing: Ranges = Field(default_factory=list, description="missing chunk ranges at the end")


class Counters(BaseModel):
    datagrams: int = 0  # every datagram read from the socket
    bytes: int = 0  # UDP payload bytes of those datagrams
    accepted: int = 0  # data chunks written to disk (first copy)
    payload_bytes: int = 0  # payload bytes written
    duplicates: int = 0  # valid data chunks already on disk
    duplicate_bytes: int = 0
    corrupt: int = 0  # datagrams failing length/magic/version/CRC/range checks
    corrupt_reasons: dict[str, int] = Field(default_factory=dict)
    foreign_model: int = 0  # valid datagrams of another model id
    repaired: int = 0  # chunks first received from a repair round
    repaired_bytes: int = 0  # payload bytes of those chunks
    polls: int = 0  # POLLs received
    nacks_sent: int = 0  # NACK datagrams sent
    nack_chunks: int = 0  # chunks requested in those NACKs (counted per message)
    reports_sent: int = 0  # DONE / FAIL reports sent
    verify_failures: int = 0  # complete files whose sha256 did not match (re-requested)


class Arrivals(BaseModel):
    """When the delivery datagrams arrived, as the kernel stamped them (SO_TIMESTAMPNS;
    `clock` "user" where the stamp was missing and the receiver read the clock itself): the
    first and last, how many, and every gap between two consecutive ones of at least
    `min_gap_s`, as [last before, first after] in wall-clock seconds."""

    clock: Literal["kernel", "user"] = "kernel"
    min_gap_s: float
    first: float | None = None
    last: float | None = None
    count: int = 0
    gaps: list[tuple[float, float]] = Field(default_factory=list)


class ReceiverRecord(BaseModel):
    schema_version: int = SCHEMA_VERSION
    kind: Literal["receiver"] = "receiver"
    receiver: str
    model_id: str
    model_name: str
    out_dir: str
    outcome: Literal["complete", "incomplete", "failed", "left"]
    error: str | None = Field(None, description="why the outcome is not complete")
    started_at: float
    first_packet_at: float | None = None
    last_packet_at: float | None = None
    complete_at: float | None = Field(None, description="every chunk of every file on disk")
    verified_at: float | None = Field(None, description="last file's sha256 verified")
    loadable_at: float | None = Field(None, description="every tensor header read (cold start)")
    load_seconds: float | None = None
    tensors: int | None = Field(None, description="tensors whose headers were read")
    ended_at: float
    cpu_s: float | None = Field(None, description="CPU seconds the process used (user + system)")
    multicast_joined: bool = False
    counters: Counters
    files: list[FileRecord]
    arrivals: Arrivals | None = None
    joined_at: float | None = Field(
        None, description="a receiver started on standby: when it was asked to join"
    )
    left_at: float | None = Field(
        None, description="when it was asked to leave (outcome left); arrivals after it are "
        "what the network still sent it",
    )  # fmt: skip


class ReceiverStatus(BaseModel):
    name: str
    ip: str
    bfr_id: int | None = None
    # absent: on the list, never a member; left: a member no more (the members file)
    state: Literal["done", "failed", "missing", "silent", "absent", "left"]
    done_at: float | None = Field(None, description="when its DONE report arrived")
    error: str | None = None
    missing: dict[str, Ranges] = Field(
        default_factory=dict, description="file name -> missing chunk ranges at the end"
    )
    joined_at: float | None = Field(None, description="when the members file added it")
    left_at: float | None = Field(None, description="when the members file removed it")


class SenderCounters(BaseModel):
    datagrams: int = 0  # delivery datagrams built
    copies: int = 0  # datagrams/frames handed to the kernel (unicast: one per receiver)
    wire_bytes: int = 0  # bytes of those copies, Ethernet frame size
    first_pass_copies: int = 0
    repair_copies: int = 0
    chunks_repaired: int = 0  # distinct (receiver, chunk) pairs repaired
    dropped_on_purpose: int = 0  # test fault injection (--drop)
    send_errors: int = 0  # ENOBUFS and the like, retried
    polls_sent: int = 0
    fins_sent: int = 0
    nacks_received: int = 0
    reports_received: int = 0
    bad_control: int = 0  # unparsable or foreign control datagrams
    root_sid_changes: int = 0  # SR-P2MP: new root SIDs picked up from --root-sid-file
    stale_nacks: int = 0  # NACKs not answering the current POLL (not used for repairs)
    member_changes: int = 0  # receivers that joined or left (--members-file)


class SenderRecord(BaseModel):
    schema_version: int = SCHEMA_VERSION
    kind: Literal["sender"] = "sender"
    technology: Technology
    model_id: str
    model_name: str
    total_size: int
    files: int
    chunk_size: int
    chunks: int
    rate_mbps: float | None
    session: int
    outcome: Literal["complete", "incomplete"]
    started_at: float
    first_packet_at: float | None = None
    last_packet_at: float | None = None
    first_pass_done_at: float | None = None
    ended_at: float
    cpu_s: float | None = Field(None, description="CPU seconds the process used (user + system)")
    rounds: int = Field(description="repair rounds after the first pass")
    counters: SenderCounters
    receivers: list[ReceiverStatus]
