"""Command line: python -m modelsync {make-model, manifest, send, receive, schema}."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from wire.constants import CONTROL_PORT, DATA_PORT, MODEL_GROUP

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)


def _fail(msg: str, code: int = 1) -> None:
    typer.echo(f"modelsync: error: {msg}", err=True)
    raise typer.Exit(code)


def _logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )


@app.command("make-model")
def make_model_cmd(
    out: Annotated[Path, typer.Option(help="directory to write the model into")],
    size: Annotated[str, typer.Option(help="total size, e.g. 64MB, 16MiB, 1TB")] = "64MB",
    shards: Annotated[int, typer.Option(help="number of safetensors shards")] = 4,
    seed: Annotated[int, typer.Option(help="random seed (same seed: same bytes)")] = 0,
    dtype: Annotated[str, typer.Option(help="bf16 or fp16")] = "bf16",
    name: Annotated[str | None, typer.Option(help="model name in the manifest")] = None,
) -> None:
    """Write a deterministic synthetic model (HF safetensors layout) and its manifest."""
    from modelsync.makemodel import make_model
    from modelsync.sizes import parse_size

    try:
        m = make_model(out, parse_size(size), shards, seed=seed, dtype=dtype, name=name)
    except (ValueError, OSError) as e:
        _fail(str(e))
    typer.echo(f"{out}: model {m.model_id} ({m.total_size} bytes in {len(m.files)} files)")


@app.command("manifest")
def manifest_cmd(
    model_dir: Annotated[Path, typer.Argument(help="directory of safetensors shards")],
    out: Annotated[Path | None, typer.Option(help="manifest path (default: in the dir)")] = None,
    name: Annotated[str | None, typer.Option(help="model name")] = None,
) -> None:
    """Write the manifest (every file, size, sha256, model id) of an existing model dir."""
    from modelsync.manifest import MANIFEST_NAME, build_manifest, write_manifest

    try:
        m = build_manifest(model_dir, name)
        write_manifest(m, out or model_dir / MANIFEST_NAME)
    except (ValueError, OSError) as e:
        _fail(str(e))
    typer.echo(f"model {m.model_id}: {len(m.files)} files, {m.total_size} bytes")


@app.command("send")
def send_cmd(
    model: Annotated[Path, typer.Option(help="model directory (with its manifest or not)")],
    receivers: Annotated[Path, typer.Option(help="JSON/YAML list of {name, ip, bfr_id, port}")],
    technology: Annotated[str, typer.Option(help="unicast | bier | sr-p2mp | ip-multicast")],
    manifest: Annotated[Path | None, typer.Option(help="manifest file (default: model's)")] = None,
    src_ip: Annotated[str, typer.Option(help="sender's IPv4 address")] = "0.0.0.0",
    rate: Annotated[float, typer.Option(help="pacing rate in Mbit/s (0: unpaced)")] = 0.0,
    mtu: Annotated[int, typer.Option(help="Ethernet payload bytes per frame")] = 1500,
    iface: Annotated[str | None, typer.Option(help="interface for raw frames")] = None,
    dst_mac: Annotated[str | None, typer.Option(help="attached switch port MAC")] = None,
    src_mac: Annotated[str | None, typer.Option(help="source MAC (default: iface's)")] = None,
    bfir_id: Annotated[int, typer.Option(help="BIER BFIR-id of the sender")] = 0,
    bsl: Annotated[int, typer.Option(help="BIER BitString length")] = 256,
    bift_id_base: Annotated[int, typer.Option(help="BIFT-id of SI k is k + this")] = 1,
    root_sid: Annotated[int | None, typer.Option(help="SR-P2MP root Replication-SID")] = None,
    root_sid_file: Annotated[
        Path | None, typer.Option(help="SR-P2MP: file with the root SID, re-read on change")
    ] = None,
    group: Annotated[str, typer.Option(help="model group")] = MODEL_GROUP,
    data_port: Annotated[int, typer.Option(help="receivers' UDP port for the group")] = DATA_PORT,
    listen_ip: Annotated[str, typer.Option(help="address for NACKs/reports")] = "0.0.0.0",
    control_port: Annotated[int, typer.Option(help="UDP port for NACKs/reports")] = CONTROL_PORT,
    deadline: Annotated[float, typer.Option(help="seconds until giving up")] = 600.0,
    poll_wait: Annotated[float, typer.Option(help="seconds one poll waits for answers")] = 0.5,
    drop: Annotated[float, typer.Option(help="TEST ONLY: drop this share of copies")] = 0.0,
    drop_seed: Annotated[int, typer.Option(help="seed for --drop")] = 0,
    record: Annotated[Path | None, typer.Option(help="write the JSON record here")] = None,
    progress: Annotated[bool | None, typer.Option(help="progress bar (default: if a tty)")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Deliver a model to the receivers, repair losses, end when all are verified."""
    from modelsync.manifest import load_manifest
    from modelsync.sender import Sender, SenderConfig
    from modelsync.targets import load_receivers

    _logging(verbose)
    try:
        m = load_manifest(manifest or model)
        cfg = SenderConfig(
            manifest=m, model_dir=model, receivers=load_receivers(receivers),
            technology=technology, src_ip=src_ip, mtu=mtu, rate_mbps=rate,
            listen_ip=listen_ip, control_port=control_port, group=group, data_port=data_port,
            iface=iface, dst_mac=dst_mac, src_mac=src_mac, bfir_id=bfir_id, bsl=bsl,
            bift_id_base=bift_id_base,
            root_sid=root_sid, root_sid_file=root_sid_file, deadline=deadline,
            poll_wait=poll_wait, drop=drop,
            drop_seed=drop_seed, record=record,
            progress=sys.stderr.isatty() if progress is None else progress,
        )  # fmt: skip
        sender = Sender(cfg)
        sender.open_raw()
    except (ValueError, OSError) as e:
        _fail(str(e))
    try:
        code = sender.run()
    finally:
        sender.close()
    typer.echo(sender.last_record.model_dump_json(indent=2))
    raise typer.Exit(code)


@app.command("receive")
def receive_cmd(
    manifest: Annotated[Path, typer.Option(help="manifest of the expected model")],
    out: Annotated[Path, typer.Option(help="directory to write the model into")],
    sender: Annotated[str, typer.Option(help="sender's IPv4 address (for NACKs)")],
    name: Annotated[str, typer.Option(help="this receiver's name (as in the sender's list)")],
    port: Annotated[int, typer.Option(help="UDP data port")] = DATA_PORT,
    bind: Annotated[str, typer.Option(help="address to bind")] = "0.0.0.0",
    group: Annotated[str, typer.Option(help="group to join ('' for none)")] = MODEL_GROUP,
    iface_ip: Annotated[str, typer.Option(help="interface address for the join")] = "0.0.0.0",
    sender_port: Annotated[int, typer.Option(help="sender's NACK port")] = CONTROL_PORT,
    deadline: Annotated[float, typer.Option(help="seconds until giving up")] = 600.0,
    idle_nack: Annotated[float, typer.Option(help="NACK after this long without data")] = 1.0,
    linger: Annotated[float, typer.Option(help="seconds to wait for FIN after done")] = 5.0,
    gap_ms: Annotated[
        float, typer.Option(help="record every pause in the data at least this long (ms)")
    ] = 1.0,
    record: Annotated[Path | None, typer.Option(help="write the JSON record here")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Receive a model into --out, verify every file, report to the sender."""
    from modelsync.manifest import load_manifest
    from modelsync.receiver import Receiver, ReceiverConfig

    _logging(verbose)
    try:
        cfg = ReceiverConfig(
            name=name, manifest=load_manifest(manifest), out_dir=out, sender_ip=sender,
            sender_port=sender_port, port=port, bind=bind, group=group or None,
            iface_ip=iface_ip, deadline=deadline, idle_nack=idle_nack, linger=linger,
            record=record, gap_s=gap_ms / 1000,
        )  # fmt: skip
        rx = Receiver(cfg)
    except (ValueError, OSError) as e:
        _fail(str(e))
    try:
        code = rx.run()
    finally:
        rx.close()
    rec = rx.last_record
    typer.echo(
        f"{name}: {rec.outcome}; {rec.counters.accepted} chunks, "
        f"{rec.counters.duplicates} duplicates, {rec.counters.corrupt} corrupt, "
        f"{rec.counters.nacks_sent} NACKs" + (f"; {rec.error}" if rec.error else "")
    )
    raise typer.Exit(code)


@app.command("schema")
def schema_cmd() -> None:
    """Print the JSON Schema of the sender and receiver records."""
    import json

    from modelsync.records import ReceiverRecord, SenderRecord

    typer.echo(
        json.dumps(
            {
                "sender": SenderRecord.model_json_schema(),
                "receiver": ReceiverRecord.model_json_schema(),
            },
            indent=2,
        )
    )
