"""python -m modelsync COMMAND: the model delivery's command line (make a synthetic model,
write a manifest, send a model, receive it). `python -m modelsync COMMAND --help` tells a
command's options."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from wire.constants import CONTROL_PORT, DATA_PORT, MODEL_GROUP
from wire.technology import Technology


class CommandError(Exception):
    """What the user gave cannot be used: printed as `modelsync: error: ...`, exit 1."""


def _logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )


def make_model_cmd(a: argparse.Namespace) -> int:
    from modelsync.makemodel import make_model
    from modelsync.sizes import parse_size

    try:
        m = make_model(a.out, parse_size(a.size), a.shards, seed=a.seed, dtype=a.dtype, name=a.name)
    except (ValueError, OSError) as e:
        raise CommandError(str(e)) from e
    print(f"{a.out}: model {m.model_id} ({m.total_size} bytes in {len(m.files)} files)")
    return 0


def manifest_cmd(a: argparse.Namespace) -> int:
    from modelsync.manifest import MANIFEST_NAME, build_manifest, write_manifest

    try:
        m = build_manifest(a.model_dir, a.name)
        write_manifest(m, a.out or a.model_dir / MANIFEST_NAME)
    except (ValueError, OSError) as e:
        raise CommandError(str(e)) from e
    print(f"model {m.model_id}: {len(m.files)} files, {m.total_size} bytes")
    return 0


def send_cmd(a: argparse.Namespace) -> int:
    from modelsync.manifest import load_manifest
    from modelsync.sender import Sender, SenderConfig
    from modelsync.targets import load_receivers

    _logging(a.verbose)
    try:
        m = load_manifest(a.manifest or a.model)
        cfg = SenderConfig(
            manifest=m, model_dir=a.model, receivers=load_receivers(a.receivers),
            technology=a.technology, src_ip=a.src_ip, mtu=a.mtu, rate_mbps=a.rate,
            listen_ip=a.listen_ip, control_port=a.control_port, group=a.group,
            data_port=a.data_port, iface=a.iface, dst_mac=a.dst_mac, src_mac=a.src_mac,
            bfir_id=a.bfir_id, bsl=a.bsl, bift_id_base=a.bift_id_base,
            root_sid=a.root_sid, root_sid_file=a.root_sid_file, members_file=a.members_file,
            deadline=a.deadline,
            poll_wait=a.poll_wait, drop=a.drop, drop_seed=a.drop_seed, record=a.record,
            progress=sys.stderr.isatty() if a.progress is None else a.progress,
        )  # fmt: skip
        sender = Sender(cfg)
        sender.open_raw()
    except (ValueError, OSError) as e:
        raise CommandError(str(e)) from e
    try:
        code = sender.run()
    finally:
        sender.close()
    print(sender.last_record.model_dump_json(indent=2))
    return code


def receive_cmd(a: argparse.Namespace) -> int:
    from modelsync.manifest import load_manifest
    from modelsync.receiver import Receiver, ReceiverConfig

    _logging(a.verbose)
    try:
        cfg = ReceiverConfig(
            name=a.name, manifest=load_manifest(a.manifest), out_dir=a.out, sender_ip=a.sender,
            sender_port=a.sender_port, port=a.port, bind=a.bind, group=a.group or None,
            iface_ip=a.iface_ip, deadline=a.deadline, idle_nack=a.idle_nack, linger=a.linger,
            record=a.record, gap_s=a.gap_ms / 1000, batch=a.batch, store=a.store,
            standby=a.standby, source_specific=a.source_specific,
            coalesce=a.coalesce_ms / 1000,
        )  # fmt: skip
        rx = Receiver(cfg)
    except (ValueError, OSError) as e:
        raise CommandError(str(e)) from e
    signal.signal(signal.SIGUSR1, lambda _s, _f: rx.leave())  # leave the delivery
    signal.signal(signal.SIGUSR2, lambda _s, _f: rx.join())  # join it (from --standby)
    try:
        code = rx.run()
    finally:
        rx.close()
    rec = rx.last_record
    print(
        f"{a.name}: {rec.outcome}; {rec.counters.accepted} chunks, "
        f"{rec.counters.duplicates} duplicates, {rec.counters.corrupt} corrupt, "
        f"{rec.counters.nacks_sent} NACKs" + (f"; {rec.error}" if rec.error else "")
    )
    return code


def schema_cmd(_a: argparse.Namespace) -> int:
    import json

    from modelsync.records import ReceiverRecord, SenderRecord

    schemas = {
        "sender": SenderRecord.model_json_schema(),
        "receiver": ReceiverRecord.model_json_schema(),
    }
    print(json.dumps(schemas, indent=2))
    return 0


def _command(
    sub: argparse._SubParsersAction, name: str, run: Callable[[argparse.Namespace], int], doc: str
) -> argparse.ArgumentParser:
    p = sub.add_parser(
        name, help=doc, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.set_defaults(run=run)
    return p


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m modelsync",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = _command(
        sub,
        "make-model",
        make_model_cmd,
        "Write a deterministic synthetic model (HF safetensors layout) and its manifest.",
    )
    p.add_argument("--out", type=Path, required=True, help="directory to write the model into")
    p.add_argument("--size", default="64MB", help="total size, e.g. 64MB, 16MiB, 1TB (64MB)")
    p.add_argument("--shards", type=int, default=4, help="number of safetensors shards (4)")
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed: same bytes)")
    p.add_argument("--dtype", default="bf16", help="bf16 or fp16 (bf16)")
    p.add_argument("--name", default=None, help="model name in the manifest")

    p = _command(
        sub,
        "manifest",
        manifest_cmd,
        "Write the manifest (every file, size, sha256, model id) of an existing model dir.",
    )
    p.add_argument("model_dir", type=Path, help="directory of safetensors shards")
    p.add_argument("--out", type=Path, default=None, help="manifest path (default: in the dir)")
    p.add_argument("--name", default=None, help="model name")

    p = _command(
        sub,
        "send",
        send_cmd,
        "Deliver a model to the receivers, repair losses, end when all are verified.",
    )
    p.add_argument(
        "--model", type=Path, required=True, help="model directory (with its manifest or not)"
    )
    p.add_argument(
        "--receivers", type=Path, required=True, help="JSON/YAML list of {name, ip, bfr_id, port}"
    )
    p.add_argument("--technology", required=True, help=" | ".join(Technology))
    p.add_argument("--manifest", type=Path, default=None, help="manifest file (default: model's)")
    p.add_argument("--src-ip", default="0.0.0.0", help="sender's IPv4 address")
    p.add_argument("--rate", type=float, default=0.0, help="pacing rate in Mbit/s (0: unpaced)")
    p.add_argument("--mtu", type=int, default=1500, help="Ethernet payload bytes per frame")
    p.add_argument("--iface", default=None, help="interface for raw frames")
    p.add_argument("--dst-mac", default=None, help="attached switch port MAC")
    p.add_argument("--src-mac", default=None, help="source MAC (default: iface's)")
    p.add_argument("--bfir-id", type=int, default=0, help="BIER BFIR-id of the sender")
    p.add_argument("--bsl", type=int, default=256, help="BIER BitString length")
    p.add_argument("--bift-id-base", type=int, default=1, help="BIFT-id of SI k is k + this")
    p.add_argument(
        "--root-sid", default=None,
        help="SR-P2MP root Replication-SID: an MPLS label (sr-p2mp), an IPv6 address (srv6-p2mp)",
    )  # fmt: skip
    p.add_argument(
        "--root-sid-file",
        type=Path,
        default=None,
        help="SR-P2MP: file with the root SID, re-read on change",
    )
    p.add_argument(
        "--members-file",
        type=Path,
        default=None,
        help='who of --receivers receives now, re-read on change: JSON {"members": [names], '
        '"open": true while joiners may still come}',
    )
    p.add_argument("--group", default=MODEL_GROUP, help=f"model group ({MODEL_GROUP})")
    p.add_argument(
        "--data-port",
        type=int,
        default=DATA_PORT,
        help=f"receivers' UDP port for the group ({DATA_PORT})",
    )
    p.add_argument("--listen-ip", default="0.0.0.0", help="address for NACKs/reports")
    p.add_argument(
        "--control-port",
        type=int,
        default=CONTROL_PORT,
        help=f"UDP port for NACKs/reports ({CONTROL_PORT})",
    )
    p.add_argument("--deadline", type=float, default=600.0, help="seconds until giving up")
    p.add_argument(
        "--poll-wait", type=float, default=0.5, help="seconds one poll waits for answers"
    )
    p.add_argument("--drop", type=float, default=0.0, help="TEST ONLY: drop this share of copies")
    p.add_argument("--drop-seed", type=int, default=0, help="seed for --drop")
    p.add_argument("--record", type=Path, default=None, help="write the JSON record here")
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar (default: if stderr is a terminal)",
    )
    p.add_argument("--verbose", "-v", action="store_true", help="log at debug level")

    p = _command(
        sub,
        "receive",
        receive_cmd,
        "Receive a model into --out, verify every file, report to the sender. SIGUSR1: leave "
        "the delivery (drop the group, stop answering, log arrivals for --linger, outcome left); "
        "SIGUSR2: join it (after --standby).",
    )
    p.add_argument("--manifest", type=Path, required=True, help="manifest of the expected model")
    p.add_argument("--out", type=Path, required=True, help="directory to write the model into")
    p.add_argument("--sender", required=True, help="sender's IPv4 address (for NACKs)")
    p.add_argument("--name", required=True, help="this receiver's name (as in the sender's list)")
    p.add_argument("--port", type=int, default=DATA_PORT, help=f"UDP data port ({DATA_PORT})")
    p.add_argument("--bind", default="0.0.0.0", help="address to bind")
    p.add_argument(
        "--group", default=MODEL_GROUP, help=f"group to join ('' for none; {MODEL_GROUP})"
    )
    p.add_argument("--iface-ip", default="0.0.0.0", help="interface address for the join")
    p.add_argument(
        "--sender-port", type=int, default=CONTROL_PORT, help=f"sender's NACK port ({CONTROL_PORT})"
    )
    p.add_argument("--deadline", type=float, default=600.0, help="seconds until giving up")
    p.add_argument("--idle-nack", type=float, default=1.0, help="NACK after this long without data")
    p.add_argument(
        "--linger",
        type=float,
        default=5.0,
        help="seconds to wait for FIN after done, counted again from each POLL after it (5)",
    )
    p.add_argument(
        "--gap-ms",
        type=float,
        default=1.0,
        help="record every pause in the data at least this long (ms)",
    )
    p.add_argument(
        "--batch",
        type=int,
        choices=range(1, 1025),
        metavar="1..1024",
        default=64,
        help="datagrams per system call (recvmmsg); 1: one recvmsg each (64)",
    )
    p.add_argument(
        "--coalesce-ms",
        type=float,
        default=100.0,
        help="after a batch short of --batch, let datagrams gather until most of a batch is "
        "due, at most this long (one wake-up per many; 0: read as soon as any comes) (100)",
    )
    p.add_argument(
        "--store",
        type=Path,
        default=None,
        help="a folder the receivers on this disk share: one copy of each verified file, "
        "hard-linked into each --out; space reserved per file as it starts",
    )
    p.add_argument(
        "--standby",
        action="store_true",
        help="listen, but join the group and ask the sender for data only on SIGUSR2",
    )
    p.add_argument(
        "--source-specific",
        action="store_true",
        help="join the group for --sender's address only (IGMPv3 source-specific, PIM-SSM)",
    )
    p.add_argument("--record", type=Path, default=None, help="write the JSON record here")
    p.add_argument("--verbose", "-v", action="store_true", help="log at debug level")

    _command(sub, "schema", schema_cmd, "Print the JSON Schema of the sender and receiver records.")
    return ap


def main(argv: list[str] | None = None) -> int:
    a = parser().parse_args(argv)
    try:
        return a.run(a)
    except CommandError as e:
        print(f"modelsync: error: {e}", file=sys.stderr)
        return 1
