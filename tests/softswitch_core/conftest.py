"""Helpers for softswitch core tests: build small v1model programs from fragments."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from softswitch.api import Program

TEMPLATE = """#include <core.p4>
#include <v1model.p4>
header eth_t {{ bit<48> dst; bit<48> src; bit<16> type; }}
header h_t {{ bit<8> a; bit<8> b; bit<16> c; bit<32> d; }}
{decls}
struct headers_t {{ eth_t eth; h_t h; {hdr_fields} }}
struct meta_t {{ bit<8> x; bit<8> y; bit<16> z; bool flag; {meta_fields} }}
parser P(packet_in pkt, out headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {{
{parser}
}}
control V(inout headers_t hdr, inout meta_t meta) {{ apply {{ {verify} }} }}
control I(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {{
{ingress}
}}
control E(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {{
{egress}
}}
control C(inout headers_t hdr, inout meta_t meta) {{ apply {{ {compute} }} }}
control D(packet_out p, in headers_t hdr) {{ apply {{ {deparser} }} }}
V1Switch(P(), V(), I(), E(), C(), D()) main;
"""

DEFAULT_PARSER = """
    state start {
        pkt.extract(hdr.eth);
        transition select(hdr.eth.type) { 0x88b5: parse_h; default: accept; }
    }
    state parse_h { pkt.extract(hdr.h); transition accept; }
"""


def p4_text(
    ingress: str = "apply { }",
    *,
    decls: str = "",
    hdr_fields: str = "",
    meta_fields: str = "",
    parser: str = DEFAULT_PARSER,
    verify: str = "",
    egress: str = "apply { }",
    compute: str = "",
    deparser: str = "p.emit(hdr.eth); p.emit(hdr.h);",
) -> str:
    return TEMPLATE.format(**locals())


@pytest.fixture
def build(tmp_path: Path) -> Callable[..., Program]:
    """build(ingress=..., ...) -> Program, from the template above (file prog.p4)."""

    def _build(**kw: str) -> Program:
        f = tmp_path / "prog.p4"
        f.write_text(p4_text(**kw))
        return Program.from_file(f)

    return _build


@pytest.fixture
def build_text(tmp_path: Path) -> Callable[[str], Program]:
    def _build(text: str) -> Program:
        f = tmp_path / "prog.p4"
        f.write_text(text)
        return Program.from_file(f)

    return _build
