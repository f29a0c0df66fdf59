"""A small TCP throughput probe to run inside emulated hosts (iperf may not be installed).

    python -m testbed.rate recv --port 5001 [--timeout 30]     # prints one JSON line
    python -m testbed.rate send --to 10.0.0.2 --port 5001 --seconds 4

The receiver reports bytes received and the rate over the transfer after its first second
(TCP's slow start and the htb bucket's initial burst are left out of the measurement).
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import time

CHUNK = 64 * 1024
WARMUP = 1.0


def receive(port: int, timeout: float) -> dict[str, float]:
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("0.0.0.0", port))
    srv.listen(1)
    srv.settimeout(timeout)
    print("listening", file=sys.stderr, flush=True)
    conn, _ = srv.accept()
    conn.settimeout(timeout)
    total = 0
    first = time.monotonic()
    mark_bytes, mark_time = 0, None
    while True:
        data = conn.recv(CHUNK)
        now = time.monotonic()
        if not data:
            break
        total += len(data)
        if mark_time is None and now - first >= WARMUP:
            mark_bytes, mark_time = total, now
        last = now
    conn.close()
    srv.close()
    if mark_time is None or last <= mark_time:
        return {"bytes": total, "seconds": 0.0, "mbit": 0.0}
    seconds = last - mark_time
    return {"bytes": total, "seconds": seconds, "mbit": (total - mark_bytes) * 8 / seconds / 1e6}


def send(to: str, port: int, seconds: float) -> dict[str, float]:
    s = socket.create_connection((to, port), timeout=10)
    buf = b"\0" * CHUNK
    total = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        total += s.send(buf)
    s.shutdown(socket.SHUT_WR)
    s.recv(1)  # wait for the receiver to close: everything sent has arrived
    s.close()
    return {"bytes": total}


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m testbed.rate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = ap.add_subparsers(dest="cmd", required=True, metavar="COMMAND")
    doc = "Receive one TCP transfer and print its size and rate (JSON)."
    raw = argparse.RawDescriptionHelpFormatter
    r = sub.add_parser("recv", help=doc, description=doc, formatter_class=raw)
    r.add_argument("--port", type=int, default=5001, help="TCP port to listen on (5001)")
    r.add_argument("--timeout", type=float, default=30.0, help="seconds to wait (30)")
    doc = "Send for a while to a receiver and print the bytes sent (JSON)."
    s = sub.add_parser("send", help=doc, description=doc, formatter_class=raw)
    s.add_argument("--to", required=True, help="the receiver's address")
    s.add_argument("--port", type=int, default=5001, help="its TCP port (5001)")
    s.add_argument("--seconds", type=float, default=4.0, help="how long to send (4)")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.cmd == "recv":
        out = receive(args.port, args.timeout)
    else:
        out = send(args.to, args.port, args.seconds)
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
