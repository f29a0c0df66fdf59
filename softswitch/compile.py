"""`python -m softswitch.compile PROG.p4 --p4info OUT.txtpb --device-config OUT.json [-D N=V]`

Checks a P4_16 v1model program and writes its P4Info (ids as p4c assigns them) and the
device config that `python -m softswitch` and Program.from_device_config accept.
P4Info format by extension: .json (JSON), .pb/.bin (binary), anything else text.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from google.protobuf import json_format, text_format

from softswitch.core.program import Program
from softswitch.entries import P4SourceError

_TEXT_HEADER = "# proto-file: p4/config/v1/p4info.proto\n# proto-message: p4.config.v1.P4Info\n\n"


def p4info_bytes(program: Program, path: Path) -> bytes:
    info = program.p4info
    ext = path.suffix.lower()
    if ext == ".json":
        return json_format.MessageToJson(info).encode()
    if ext in (".pb", ".bin"):
        return info.SerializeToString()  # type: ignore[no-any-return]
    return (_TEXT_HEADER + text_format.MessageToString(info)).encode()


def _define(text: str) -> tuple[str, str]:
    name, _, value = text.partition("=")
    if not name:
        raise argparse.ArgumentTypeError(f"bad -D {text!r}: expected NAME or NAME=VALUE")
    return name, value if value else "1"


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m softswitch.compile",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("program", type=Path, help="the P4_16 v1model source file")
    ap.add_argument("--p4info", type=Path, help="write the P4Info here")
    ap.add_argument("--device-config", type=Path, help="write the device config (JSON) here")
    ap.add_argument(
        "-D",
        dest="defines",
        action="append",
        type=_define,
        default=[],
        metavar="NAME[=VALUE]",
        help="preprocessor definition",
    )
    ap.add_argument(
        "-I",
        dest="include_dirs",
        action="append",
        default=[],
        metavar="DIR",
        help="extra include directory",
    )
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        prog = Program.from_file(args.program, dict(args.defines), args.include_dirs)
        p4info = p4info_bytes(prog, args.p4info) if args.p4info else None
    except P4SourceError as e:
        print(e, file=sys.stderr)
        return 1
    for path, data in ((args.p4info, p4info), (args.device_config, None)):
        if path is None:
            continue
        if data is None:
            data = prog.device_config()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
