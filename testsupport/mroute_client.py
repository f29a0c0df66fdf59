"""A stand-in for pimd's mroute socket, driven line by line (JSON) from a test: it makes the
calls pimd makes (socket, setsockopt MRT_*, getsockopt, ioctl SIOCGET*, recvmsg with
IP_PKTINFO) through plain libc, so under LD_PRELOAD of pimsm.mroute's shim they reach the
emulation exactly as pimd's would. Self-contained: it runs in a router's namespace as

    python3 mroute_client.py

Requests (one JSON object a line) and answers (one a line):
    {"op": "open"}                                  -> {"ok": true} | {"errno": N}
    {"op": "setopt", "name": N, "hex": "..."}       -> {"ok": true} | {"errno": N}
    {"op": "getopt", "name": N}                     -> {"value": int} | {"errno": N}
    {"op": "ioctl", "req": N, "hex": "..."}         -> {"hex": "..."} | {"errno": N}
    {"op": "read", "timeout": s}                    -> {"hex", "ifindex", "src"} | {"timeout": true}
    {"op": "join", "group": "224.0.0.22", "ifindex": N} -> {"ok": true}   (as pimd's IGMP sockets)
    {"op": "close"}                                 -> {"ok": true}
"""

from __future__ import annotations

import fcntl
import json
import select
import socket
import struct
import sys

IP_PKTINFO = 8
MRT_INIT = 200


def main() -> None:
    s: socket.socket | None = None
    joins: list[socket.socket] = []
    for line in sys.stdin:
        q = json.loads(line)
        op = q["op"]
        try:
            if op == "open":
                s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_IGMP)
                s.setsockopt(socket.IPPROTO_IP, MRT_INIT, struct.pack("i", 1))
                s.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
                s.setblocking(False)
                a: dict = {"ok": True}
            elif op == "udp_init":  # MRT_INIT on a socket that is not raw IGMP
                u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                try:
                    u.setsockopt(socket.IPPROTO_IP, MRT_INIT, struct.pack("i", 1))
                    a = {"ok": True}
                finally:
                    u.close()
            elif op == "setopt":
                assert s is not None
                s.setsockopt(socket.IPPROTO_IP, q["name"], bytes.fromhex(q["hex"]))
                a = {"ok": True}
            elif op == "getopt":
                assert s is not None
                a = {"value": struct.unpack("i", s.getsockopt(socket.IPPROTO_IP, q["name"], 4))[0]}
            elif op == "ioctl":
                assert s is not None
                buf = bytearray(bytes.fromhex(q["hex"]))
                fcntl.ioctl(s.fileno(), q["req"], buf)
                a = {"hex": bytes(buf).hex()}
            elif op == "read":
                assert s is not None
                ready, _, _ = select.select([s], [], [], q["timeout"])
                if not ready:
                    a = {"timeout": True}
                else:
                    data, anc, _flags, src = s.recvmsg(65536, socket.CMSG_SPACE(12))
                    ifindex = None
                    for level, kind, value in anc:
                        if level == socket.IPPROTO_IP and kind == IP_PKTINFO:
                            ifindex = struct.unpack_from("=i", value)[0]
                    a = {"hex": data.hex(), "ifindex": ifindex, "src": src[0] if src else None}
            elif op == "join":
                j = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_IGMP)
                mreqn = struct.pack("=4s4si", socket.inet_aton(q["group"]), bytes(4), q["ifindex"])
                j.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreqn)
                joins.append(j)
                a = {"ok": True}
            elif op == "close":
                if s is not None:
                    s.close()
                s = None
                a = {"ok": True}
            else:
                a = {"error": f"unknown op {op!r}"}
        except OSError as e:
            a = {"errno": e.errno}
        print(json.dumps(a), flush=True)


if __name__ == "__main__":
    main()
