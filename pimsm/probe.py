"""Tiny multicast probe: numbered UDP datagrams at a steady rate, receivers log arrivals.

Standalone on purpose (no imports from this project) so it runs with any python3 inside a
namespace:

    python3 probe.py send --group 239.1.0.1 --port 50000 --rate 200 --duration 30 --log s.log
    python3 probe.py recv --group 239.1.0.1 --port 50000 --duration 30 --log r.log
    python3 probe.py sniff --ifname eth0 --log x.log   # sees the group's datagrams on the
                                                      # wire, joined or not (AF_PACKET)

Every log line is `<event> <value> <time.monotonic()>`; CLOCK_MONOTONIC is one clock for all
namespaces of the machine, so times from different hosts compare directly:
  join 0 T     the receiver's IP_ADD_MEMBERSHIP (the kernel sends the IGMP report now)
  data SEQ T   arrival of datagram SEQ
  leave 0 T    IP_DROP_MEMBERSHIP (the kernel sends the IGMP leave now)
  start 0 T / sent N T   the sender's first send and its final count
A SIGTERM ends either side cleanly (a receiver leaves first).
"""

from __future__ import annotations

import argparse
import signal
import socket
import struct
import sys
import time

MAGIC = b"PIMP"
HEADER = struct.Struct("!4sQd")  # magic, sequence number, send time (monotonic)


class _Stop(Exception):
    pass


def _on_term(signum: int, frame: object) -> None:
    raise _Stop()


def send(args: argparse.Namespace, log) -> None:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, args.ttl)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
    pad = b"\0" * max(0, args.size - HEADER.size)
    interval = 1.0 / args.rate
    t0 = time.monotonic()
    log.write(f"start 0 {t0:.6f}\n")
    seq = 0
    try:
        while args.duration <= 0 or time.monotonic() - t0 < args.duration:
            due = t0 + seq * interval
            now = time.monotonic()
            if due > now:
                time.sleep(due - now)
            s.sendto(HEADER.pack(MAGIC, seq, time.monotonic()) + pad, (args.group, args.port))
            seq += 1
    except _Stop:
        pass
    finally:
        log.write(f"sent {seq} {time.monotonic():.6f}\n")


def recv(args: argparse.Namespace, log) -> None:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((args.group, args.port))  # only the group's datagrams, not other unicast
    mreq = struct.pack("4s4s", socket.inet_aton(args.group), socket.inet_aton("0.0.0.0"))
    s.settimeout(0.2)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
    t0 = time.monotonic()
    log.write(f"join 0 {t0:.6f}\n")
    log.flush()
    try:
        while args.duration <= 0 or time.monotonic() - t0 < args.duration:
            try:
                data = s.recv(65535)
            except TimeoutError:
                continue
            t = time.monotonic()
            if len(data) >= HEADER.size:
                magic, seq, _ = HEADER.unpack_from(data)
                if magic == MAGIC:
                    log.write(f"data {seq} {t:.6f}\n")
    except _Stop:
        pass
    finally:
        s.setsockopt(socket.IPPROTO_IP, socket.IP_DROP_MEMBERSHIP, mreq)
        log.write(f"leave 0 {time.monotonic():.6f}\n")
        s.close()


def sniff(args: argparse.Namespace, log) -> None:
    eth_p_ip = 0x0800
    s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(eth_p_ip))  # from IP on
    s.bind((args.ifname, eth_p_ip))
    s.settimeout(0.2)
    group = socket.inet_aton(args.group)
    t0 = time.monotonic()
    log.write(f"sniff 0 {t0:.6f}\n")
    log.flush()
    try:
        while args.duration <= 0 or time.monotonic() - t0 < args.duration:
            try:
                frame, addr = s.recvfrom(65535)
            except TimeoutError:
                continue
            t = time.monotonic()
            if addr[2] == socket.PACKET_OUTGOING:
                continue
            ihl = (frame[0] & 0x0F) * 4
            if len(frame) < ihl + 8 + HEADER.size or frame[9] != 17 or frame[16:20] != group:
                continue
            if struct.unpack_from("!H", frame, ihl + 2)[0] != args.port:
                continue
            magic, seq, _ = HEADER.unpack_from(frame, ihl + 8)
            if magic == MAGIC:
                log.write(f"data {seq} {t:.6f}\n")
    except _Stop:
        pass
    finally:
        log.write(f"end 0 {time.monotonic():.6f}\n")
        s.close()


def parser() -> argparse.ArgumentParser:
    # run as a file in the routers' namespaces (python3 probe.py ...): no `python -m` prog
    ap = argparse.ArgumentParser(
        prog="probe.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("role", choices=["send", "recv", "sniff"], help="what this probe does")
    ap.add_argument("--ifname", default="eth0", help="interface to watch (sniff)")
    ap.add_argument("--group", default="239.1.0.1", help="the multicast group (239.1.0.1)")
    ap.add_argument("--port", type=int, default=50000, help="UDP port (50000)")
    ap.add_argument("--rate", type=float, default=100.0, help="datagrams per second (send)")
    ap.add_argument("--size", type=int, default=200, help="UDP payload bytes (send)")
    ap.add_argument("--ttl", type=int, default=64, help="IP TTL of the datagrams (send)")
    ap.add_argument("--duration", type=float, default=0.0, help="seconds; 0 = until SIGTERM")
    ap.add_argument("--log", required=True, help="the event log to write")
    return ap


def main(argv: list[str] | None = None) -> int:
    ap = parser()
    args = ap.parse_args(argv)
    if args.rate <= 0:
        ap.error("--rate must be positive")
    signal.signal(signal.SIGTERM, _on_term)
    with open(args.log, "w", buffering=1) as log:
        {"send": send, "recv": recv, "sniff": sniff}[args.role](args, log)
    return 0


if __name__ == "__main__":
    sys.exit(main())
