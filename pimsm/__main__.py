"""python -m pimsm COMMAND: generate FRR configs, run a measured PIM-SM network, clean up a
crash.

python -m pimsm config TOPO.yaml --out DIR [--bfd]
python -m pimsm run TOPO.yaml [--bfd] [--fail A B] [--mode silent|carrier]
                              [--receivers h2,h3] [--rate 100] [--json FILE]
python -m pimsm clean RUN_DIR
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from topologies.model import Topology


def load_topology(path: str) -> Topology:
    from topologies.loader import TopologyError, load

    try:
        return load(path)
    except TopologyError as e:
        raise SystemExit(str(e)) from e


def _command(sub: argparse._SubParsersAction, name: str, doc: str) -> argparse.ArgumentParser:
    return sub.add_parser(
        name, help=doc, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m pimsm",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = ap.add_subparsers(dest="cmd", required=True, metavar="COMMAND")
    c = _command(sub, "config", "Write every router's FRR files under DIR/<router>/.")
    c.add_argument("topology", help="topology file (YAML)")
    c.add_argument("--out", required=True, help="the folder DIR")
    c.add_argument("--bfd", action="store_true", help="BFD on every router link")
    r = _command(sub, "run", "Bring the network up, probe it, print the records (JSON).")
    r.add_argument("topology", help="topology file (YAML)")
    r.add_argument("--bfd", action="store_true", help="BFD on every router link")
    r.add_argument("--fail", nargs=2, metavar=("A", "B"), help="fail the link between A and B")
    r.add_argument(
        "--mode",
        choices=["silent", "carrier"],
        default="silent",
        help="a silent failure (frames dropped, carrier kept) or a carrier loss",
    )
    r.add_argument("--receivers", help="comma-separated hosts (default: every GPU host)")
    r.add_argument("--rate", type=float, default=100.0, help="probe datagrams per second (100)")
    r.add_argument("--json", help="write the full record here")
    r.add_argument(
        "--delay",
        choices=["refuse", "ignore"],
        default="refuse",
        help="links with a delay where the kernel has no netem: refuse or ignore the delay",
    )
    k = _command(sub, "clean", "End the processes of a crashed run, remove its directory.")
    k.add_argument("run_dir", help="the run's directory")
    return ap


def main(argv: list[str] | None = None) -> int:
    a = parser().parse_args(argv)

    if a.cmd == "config":
        from pimsm.config import router_configs

        for router, rc in router_configs(load_topology(a.topology), bfd=a.bfd).items():
            d = Path(a.out) / router
            d.mkdir(parents=True, exist_ok=True)
            for daemon, text in rc.files.items():
                (d / f"{daemon}.conf").write_text(text)
        print(f"wrote {a.out}/<router>/<daemon>.conf")
    elif a.cmd == "run":
        from pimsm.experiment import run

        topo = load_topology(a.topology)
        res = run(
            topo,
            bfd=a.bfd,
            receivers=a.receivers.split(",") if a.receivers else None,
            fail=tuple(a.fail) if a.fail else None,
            mode=a.mode,
            rate=a.rate,
            delay=a.delay,
        )
        text = res.model_dump_json(indent=1)
        if a.json:
            Path(a.json).write_text(text)
        print(f"converged in {res.converge_s:.1f} s; RP {res.rp_router} ({res.rp_address})")
        for tb in res.tree_builds:
            print(f"tree build {tb.receiver}: {tb.seconds}")
        for st in res.state:
            print(f"state {st.router}: {st.entries} mroute entries")
        if res.timeline:
            print(f"detected after {res.timeline.detection_s} s by {res.timeline.detected_by}")
            print(f"data restored at every affected receiver after {res.timeline.restore_s} s")
        for o in res.outages:
            print(f"outage {o.receiver}: {o.outage_s} s, {o.lost_datagrams} lost")
    else:
        from pimsm.network import clean_run_dir

        print("signalled", clean_run_dir(a.run_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
