"""`make shell SW=s1` -> `python -m controlplane.shell s1`: p4runtime-sh on a running switch.

p4runtime-shell pins an old protobuf, so it runs from its own virtual environment,
build/venv-p4rt-shell, created on first use (the same path, version and stamp file as
tests/switch/p4rt_shell_venv.sh, so either creates it for both). The switch's address
follows docs/contracts.md: 127.0.0.1:(9559 + device id); the device id comes from
--device-id, or from the switch's entry in --topo (default: $TOPO). The shell connects
with a low election id, as a backup: it reads everything but does not take the switch from
the controller; --primary takes over (the controller's writes then fail).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VENV = REPO / "build" / "venv-p4rt-shell"
VERSION = "0.0.6"


def shell_python(venv: Path = VENV) -> Path:
    """The venv's python, creating the venv with p4runtime-shell once (idempotent)."""
    stamp = venv / f".p4rt-shell-{VERSION}"
    py = venv / "bin" / "python"
    if not stamp.is_file():
        import shutil

        shutil.rmtree(venv, ignore_errors=True)
        venv.parent.mkdir(parents=True, exist_ok=True)
        print(f"shell: creating {venv} with p4runtime-shell=={VERSION} (once)", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check",
             f"p4runtime-shell=={VERSION}"],
            check=True,
        )  # fmt: skip
        subprocess.run([str(py), "-c", "import p4runtime_sh.shell"], check=True)
        stamp.touch()
    return py


def device_id_of(switch: str, topo_path: str | None) -> int:
    if not topo_path:
        raise SystemExit(
            f"shell: cannot tell the device id of {switch!r}: give --device-id N or "
            "--topo FILE (or set TOPO=FILE)"
        )
    from topologies.loader import load

    topo = load(topo_path)
    try:
        return int(topo.switch(switch).device_id or 0)
    except KeyError:
        names = ", ".join(s.name for s in topo.switches[:10])
        msg = f"shell: no switch {switch!r} in {topo_path} (switches: {names} ...)"
        raise SystemExit(msg) from None


def command(switch: str, args: argparse.Namespace) -> list[str]:
    dev = args.device_id if args.device_id is not None else device_id_of(switch, args.topo)
    addr = args.addr or f"127.0.0.1:{9559 + dev}"
    election = "0,100" if args.primary else "0,1"
    return [
        str(shell_python()),
        "-m",
        "p4runtime_sh",
        "--grpc-addr",
        addr,
        "--device-id",
        str(dev),
        "--election-id",
        election,
    ]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m controlplane.shell",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("switch", help="switch name, e.g. s1")
    p.add_argument("--device-id", type=int, help="the switch's device id (default: --topo's)")
    p.add_argument("--topo", default=os.environ.get("TOPO"), help="topology file (or $TOPO)")
    p.add_argument("--addr", help="gRPC address (default 127.0.0.1:9559+device id)")
    p.add_argument("--primary", action="store_true", help="take over as primary (writes)")
    p.add_argument("--print", action="store_true", help="print the command, do not run it")
    return p


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    cmd = command(args.switch, args)
    if args.print:
        print(" ".join(cmd))
        return
    os.execv(cmd[0], cmd)


if __name__ == "__main__":
    main()
