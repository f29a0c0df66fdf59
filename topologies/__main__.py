"""python -m topologies COMMAND: generate topology YAML, or check a file.

    python -m topologies multicloud --clouds 3 --leaves 2 --hosts 2 --wan-mbit 20 \\
        --cloud-mbit 100 --out f.yaml
    python -m topologies zoo Abilene --clouds-at 3,8,9 [--store-at 0] --out f.yaml
    python -m topologies fixed line|diamond|tree --out f.yaml
    python -m topologies check f.yaml          # validate a file, print a summary
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from topologies import generators
from topologies.loader import TopologyError, dump, from_dict, load


def _floats(text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected numbers separated by commas: {text!r}"
        ) from None


def _cloud_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--leaves", type=int, default=2, help="leaf switches per cloud (2)")
    p.add_argument("--hosts", type=int, default=2, help="GPU hosts per leaf (2)")
    p.add_argument(
        "--wan-mbit",
        type=_floats,
        default=[20.0],
        help="inbound WAN bandwidth of each cloud, one value or one per cloud (20)",
    )
    p.add_argument("--cloud-mbit", type=float, default=100.0, help="in-cloud bandwidth (100)")
    p.add_argument("--core-mbit", type=float, default=None, help="WAN core (default: in-cloud)")
    p.add_argument("--store-mbit", type=float, default=None, help="store uplink (in-cloud)")
    p.add_argument("--mtu", type=int, default=None, help="every link's MTU (9000)")
    p.add_argument("--out", type=Path, default=None, help="write here (default: stdout)")


def _command(sub: argparse._SubParsersAction, name: str, doc: str) -> argparse.ArgumentParser:
    return sub.add_parser(
        name, help=doc, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m topologies",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = ap.add_subparsers(dest="cmd", required=True, metavar="COMMAND")
    mc = _command(sub, "multicloud", "A model store and K GPU clouds over a WAN core ring.")
    mc.add_argument("--clouds", type=int, default=3, help="number of GPU clouds (3)")
    _cloud_args(mc)
    zp = _command(sub, "zoo", "A Topology Zoo WAN with GPU clouds at chosen nodes.")
    zp.add_argument("name", help=f"bundled graph ({', '.join(generators.zoo_names())}) or path")
    zp.add_argument("--clouds-at", required=True, help="node ids or labels, comma-separated")
    zp.add_argument("--store-at", default=None, help="node of the model-store site")
    zp.add_argument(
        "--weights",
        choices=["hops", "distance"],
        default="hops",
        help="link weights: 1 per hop, or 1 per started 100 km of great-circle distance",
    )
    _cloud_args(zp)
    fp = _command(sub, "fixed", "Small fixed topologies for tests.")
    fp.add_argument("name", choices=generators.FIXED, help="which one")
    fp.add_argument("--out", type=Path, default=None, help="write here (default: stdout)")
    cp = _command(sub, "check", "Validate a topology file and print a summary.")
    cp.add_argument("file", type=Path, help="the topology file (YAML)")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)

    try:
        if args.cmd == "check":
            t = load(args.file)
            print(
                f"{args.file}: {t.name}: {len(t.switches)} switches, {len(t.hosts)} hosts "
                f"({len(t.gpu_hosts())} GPU), {len(t.links)} links"
            )
            return 0
        if args.cmd == "fixed":
            data = generators.fixed(args.name)
        else:
            spec = generators.CloudSpec(
                leaves=args.leaves,
                hosts=args.hosts,
                wan_mbit=args.wan_mbit,
                cloud_mbit=args.cloud_mbit,
                store_mbit=args.store_mbit,
            )
            if args.cmd == "multicloud":
                data = generators.multicloud(args.clouds, spec, args.core_mbit)
            else:
                at = [x.strip() for x in args.clouds_at.split(",") if x.strip()]
                data = generators.zoo(
                    args.name, at, args.store_at, spec, args.core_mbit, args.weights
                )
            if args.mtu is not None:
                data["mtu"] = args.mtu
        from_dict(data, f"generated {data['name']}")  # never write a file that would not load
    except (TopologyError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    text = dump(data)
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.write_text(text, encoding="utf-8")
        print(f"wrote {args.out} ({data['name']})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
