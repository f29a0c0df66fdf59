"""Run inside the p4runtime-shell venv (see p4rt_shell_venv.sh): connect to a switch, load a
pipeline, insert a table entry, read it back, send a packet-out. Prints a JSON summary.

Usage: python p4rt_shell_script.py ADDR DEVICE_ID P4INFO_TXT DEVICE_CONFIG_BIN PAYLOAD_HEX
"""

import json
import sys
import time

import p4runtime_sh.shell as sh

addr, device_id, p4info, blob, payload_hex = sys.argv[1:6]
sh.setup(
    device_id=int(device_id),
    grpc_addr=addr,
    election_id=(0, 1),
    config=sh.FwdPipeConfig(p4info, blob),
    verbose=False,
)
try:
    te = sh.TableEntry("CrIngress.fwd")(action="CrIngress.set_out")
    te.match["meta.orig_port"] = "1"
    te.action["port"] = "2"
    te.insert()
    read = []
    for e in sh.TableEntry("CrIngress.fwd").read():
        read.append(
            {
                "match": e.match["meta.orig_port"].exact.value.hex(),
                "action": e.action.action_name if hasattr(e.action, "action_name") else "",
                "port": e.action["port"].value.hex()
                if hasattr(e.action["port"], "value")
                else str(e.action["port"]),
            }
        )
    sh.PacketOut(payload=bytes.fromhex(payload_hex), egress_port="3").send()
    time.sleep(1.0)  # let the stream deliver it before teardown closes the channel
    print(json.dumps({"read": read}))
finally:
    sh.teardown()
