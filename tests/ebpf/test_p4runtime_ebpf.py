"""The P4Runtime end-to-end tests again with the switch process on the eBPF backend (`--backend
ebpf`): the corpus programmed over P4Runtime with packet-outs and packet-ins through the CPU port,
and BIER, BIER-FRR (register written over P4Runtime, on carrier loss, and on a BFD failure),
SR-P2MP over MPLS and SRv6 and unicast with packet I/O of the project's programs."""

from __future__ import annotations

import pytest

from tests.p4src.test_p4runtime import (  # noqa: F401 (collected here with the eBPF backend)
    test_bier_frr_on_a_silent_failure_detected_by_bfd,
    test_bier_frr_on_carrier_loss_without_the_controller,
    test_bier_frr_when_the_port_status_register_says_down,
    test_bier_replication_and_bfer_over_p4runtime,
    test_sr_p2mp_bud_node_over_p4runtime,
    test_srv6_p2mp_bud_node_over_p4runtime,
    test_unicast_and_packet_io_over_p4runtime,
)
from tests.switch.test_corpus_p4runtime import test_corpus_over_p4runtime  # noqa: F401

pytestmark = [pytest.mark.ebpf, pytest.mark.slow]


@pytest.fixture(autouse=True)
def ebpf_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOFTSWITCH_BACKEND", "ebpf")
