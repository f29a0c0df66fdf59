"""The finsy conversion of entities (exact P4Runtime messages) and the Fabric's loop guard."""

from __future__ import annotations

import asyncio

import finsy as fy
import pytest
from cpf_net import build_programs
from finsy.proto import p4r

from controlplane.client import Fabric, to_finsy_update
from controlplane.entities import Lpm, McGroup, TableEntry, Update
from controlplane.errors import ControlPlaneError


@pytest.fixture(scope="module")
def schema(tmp_path_factory) -> fy.P4Schema:
    out = build_programs(tmp_path_factory.mktemp("cpf-client"))
    d = out / "softswitch"
    return fy.P4Schema(d / "bier.p4info.txtpb", d / "bier.json")


def encode(u: Update, schema: fy.P4Schema) -> p4r.Update:
    (msg,) = fy.p4entity.encode_updates([to_finsy_update(u)], schema)
    return msg


def test_route_update_encodes_ids_and_bytes(schema):
    e = TableEntry(
        "MyIngress.ipv4_lpm",
        (("hdr.ipv4.dst_addr", Lpm(0x0A000002, 32)),),
        "MyIngress.ipv4_route",
        (("port", 3), ("dmac", 0x020000000002)),
    )
    msg = encode(Update("MODIFY", e), schema)
    t = schema.tables["MyIngress.ipv4_lpm"]
    a = schema.actions["MyIngress.ipv4_route"]
    assert msg.type == p4r.Update.MODIFY
    te = msg.entity.table_entry
    assert te.table_id == t.id
    (fm,) = te.match
    assert fm.field_id == t.match_fields["hdr.ipv4.dst_addr"].id
    assert (fm.lpm.value, fm.lpm.prefix_len) == (bytes([10, 0, 0, 2]), 32)
    act = te.action.action
    assert act.action_id == a.id
    assert [(p.param_id, p.value) for p in act.params] == [
        (a.params["port"].id, b"\x03"),
        (a.params["dmac"].id, bytes([2, 0, 0, 0, 0, 2])),
    ]


def test_group_update_encodes_replicas_with_rids(schema):
    msg = encode(Update("DELETE", McGroup(5, ((1, 1), (2, 1040)))), schema)
    assert msg.type == p4r.Update.DELETE
    g = msg.entity.packet_replication_engine_entry.multicast_group_entry
    assert g.multicast_group_id == 5
    assert [r.instance for r in g.replicas] == [1, 1040]


def test_fabric_refuses_a_foreign_event_loop():
    fab = Fabric([])
    fab._loop = asyncio.new_event_loop()  # as if opened on another loop
    try:
        with pytest.raises(ControlPlaneError, match=r"another event loop"):
            asyncio.run(fab.read_groups("s1"))
    finally:
        fab._loop.close()
