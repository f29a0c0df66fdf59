"""Inject link failures into a running testbed network (one started by `make net` or an
experiment), as cable pulls (`--mode carrier`, the default) or silent drops (`--mode
silent`: both ends drop everything, carrier stays up), at given times; print each applied
event as a JSON line.

    python -m experiments.fail --link s1-s2 --at 2.5 --for 3          # down at 2.5 s, up at 5.5 s
    python -m experiments.fail --link s1-s2 --link s3-s4 --at 1       # both down, stay down
    python -m experiments.fail --link s1-s2 --at 0 --for 1 --flap 3   # down 1 s, up 1 s, x3
    python -m experiments.fail --switch s2 --at 0 --for 5             # every link of s2
    python -m experiments.fail --link s1-s2 --at 1 --for 2 --mode silent
    python -m experiments.fail --link s1-s2 --up                      # restore it now

Times count from the start of this command. With several networks running, name one with
--run (its run id or prefix).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from testbed.failures import MODES, LinkEvent, Schedule, run_schedule
from testbed.remote import RemoteError, RemoteNetwork, find_run


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m experiments.fail",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--link", action="append", default=[], help="a link, e.g. s1-s2")
    ap.add_argument("--switch", action="append", default=[], help="a switch: all its links")
    ap.add_argument("--at", type=float, default=0.0, help="seconds from now (0)")
    ap.add_argument("--for", dest="duration", type=float, default=None, help="down this long")
    ap.add_argument("--flap", type=int, default=1, help="repeat the down/up cycle N times")
    ap.add_argument("--up-for", type=float, default=None, help="up time between flaps")
    ap.add_argument("--up", action="store_true", help="restore the links instead")
    ap.add_argument("--mode", choices=MODES, default="carrier", help="how a link fails (carrier)")
    ap.add_argument("--run", default=None, help="run id or prefix of the network")
    ap.add_argument("--record", type=Path, default=None, help="also append events here")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        schedule = Schedule.build(
            args.link,
            args.switch,
            args.at,
            args.duration,
            args.flap,
            args.up_for,
            "up" if args.up else "down",
            args.mode,
        )
        net = RemoteNetwork(find_run(args.run))
        for a in schedule.actions:  # fail on a bad name now, not halfway through
            if a.what == "link":
                net._link(a.name)
            elif not any(a.name in k.split("-", 1) for k in net.rec.links):
                raise RemoteError(f"run {net.rec.run_id} has no switch {a.name!r}")
    except (ValueError, RemoteError) as e:
        print(f"fail: error: {e}", file=sys.stderr)
        return 2
    record = args.record.open("a", encoding="utf-8") if args.record else None

    def emit(ev: LinkEvent) -> None:
        print(ev.to_json(), flush=True)
        if record is not None:
            record.write(ev.to_json() + "\n")
            record.flush()

    try:
        run_schedule(net, schedule, on_event=emit)
    except RemoteError as e:
        print(f"fail: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    finally:
        if record is not None:
            record.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
