/* sr_p2mp.p4: SR-P2MP replication segments (RFC 9524, RFC 9960) over SR-MPLS, transit
 * SIDs for non-replicating nodes, IPv4 unicast and packet-in/packet-out.
 * Contract: p4src/README.md.
 *
 * The top label is looked up as a Replication-SID (-> multicast group); every replica's
 * egress swaps it for the downstream Replication-SID (optionally pushing a segment list
 * above it) or, at a leaf or bud node, pops it and delivers the inner IPv4 packet. */
#include "common.p4"

control MyIngress(inout headers_t hdr,
                  inout metadata_t meta,
                  inout standard_metadata_t standard_metadata) {
    counter(STATS_SIZE, CounterType.packets_and_bytes) in_stats;

    action count_in(bit<32> code) {
        in_stats.count((code << 8) | (bit<32>)(standard_metadata.ingress_port[7:0]));
    }

    action drop_in(bit<32> code) {
        in_stats.count((code << 8) | (bit<32>)(standard_metadata.ingress_port[7:0]));
        mark_to_drop(standard_metadata);
    }

    action to_cpu(bit<16> reason) {
        standard_metadata.egress_spec = CPU_PORT;
        meta.punt_reason = reason;
    }

    /* ---- punt ACL (diagnostics) */
    action punt_to_cpu() {
        standard_metadata.egress_spec = CPU_PORT;
        meta.punt_reason = PUNT_ACL;
    }

    action punt_drop() {
        mark_to_drop(standard_metadata);
    }

    table punt {
        key = {
            hdr.ethernet.ether_type: ternary;
            hdr.ipv4.dst_addr: ternary;
        }
        actions = { punt_to_cpu; punt_drop; NoAction; }
        default_action = NoAction();
        size = 64;
    }

    /* ---- IPv4 unicast */
    action ipv4_route(bit<9> port, bit<48> dmac) {
        standard_metadata.egress_spec = port;
        hdr.ethernet.dst_addr = dmac;
        hdr.ipv4.ttl = hdr.ipv4.ttl - 1;
    }

    action ipv4_drop() {
        mark_to_drop(standard_metadata);
    }

    table ipv4_lpm {
        key = { hdr.ipv4.dst_addr: lpm; }
        actions = { ipv4_route; ipv4_drop; }
        default_action = ipv4_drop();
        size = 4096;
    }

    /* ---- SR-P2MP: Replication-SIDs of the replication segments at this node */
    action replicate(bit<16> group) {
        standard_metadata.mcast_grp = group;
    }

    table rep_sid {
        key = { hdr.mpls[0].label: exact; }
        actions = { replicate; NoAction; }
        default_action = NoAction();
        size = 1024;
    }

    /* ---- SIDs this node only forwards (segment lists across non-replicating nodes) */
    action sid_continue(bit<9> port, bit<48> dmac) {
        standard_metadata.egress_spec = port;
        hdr.ethernet.dst_addr = dmac;
        hdr.mpls[0].ttl = hdr.mpls[0].ttl - 1;
    }

    action sid_pop(bit<9> port, bit<48> dmac) {
        standard_metadata.egress_spec = port;
        hdr.ethernet.dst_addr = dmac;
        meta.mpls_ttl = hdr.mpls[0].ttl - 1;
        hdr.mpls.pop_front(1);
    }

    table transit_sid {
        key = { hdr.mpls[0].label: exact; }
        actions = { sid_continue; sid_pop; NoAction; }
        default_action = NoAction();
        size = 1024;
    }

    apply {
        bool done = false;
        bit<8> ttl_in = 0;
        count_in(IN_RX);

        if (hdr.packet_out.isValid()) {
            count_in(IN_PACKET_OUT);
            if (hdr.packet_out.egress_port != 0) {
                standard_metadata.egress_spec = (bit<9>) hdr.packet_out.egress_port;
                meta.cpu_direct = 1;
                done = true;
            }
            hdr.packet_out.setInvalid();
        }

        if (!done && hdr.ethernet.isValid() && hdr.ethernet.ether_type == ETHERTYPE_LLDP) {
            to_cpu(PUNT_LLDP);
            count_in(IN_PUNT);
            done = true;
        }

        if (!done && hdr.ethernet.isValid() && hdr.ethernet.ether_type == ETHERTYPE_LIVENESS) {
            drop_in(IN_LIVENESS);  /* not a drop: the switch's liveness agent has it */
            done = true;
        }

        if (!done) {
            switch (punt.apply().action_run) {
                punt_to_cpu: {
                    count_in(IN_PUNT);
                    done = true;
                }
                punt_drop: {
                    count_in(IN_DROP_PUNT_ACL);
                    done = true;
                }
            }
        }

        if (!done) {
            if (hdr.mpls[0].isValid()) {
                ttl_in = hdr.mpls[0].ttl;
                if (ttl_in == 0) {
                    drop_in(IN_DROP_TTL);
                } else if (rep_sid.apply().hit) {
                    count_in(IN_MPLS_REPLICATED);
                } else {
                    switch (transit_sid.apply().action_run) {
                        sid_continue: {
                            if (ttl_in <= 1) {
                                drop_in(IN_DROP_TTL);
                            } else {
                                count_in(IN_MPLS_TRANSIT);
                            }
                        }
                        sid_pop: {
                            if (ttl_in <= 1) {
                                drop_in(IN_DROP_TTL);
                            } else {
                                if (hdr.mpls[0].isValid()) {
                                    hdr.mpls[0].ttl = meta.mpls_ttl;
                                } else {
                                    hdr.ethernet.ether_type = ETHERTYPE_IPV4;
                                }
                                count_in(IN_MPLS_TRANSIT);
                            }
                        }
                        NoAction: {
                            drop_in(IN_DROP_UNKNOWN_SID);
                        }
                    }
                }
            } else if (hdr.ipv4.isValid()) {
                if (standard_metadata.checksum_error == 1) {
                    drop_in(IN_DROP_BAD_CHECKSUM);
                } else if (hdr.ipv4.ttl <= 1) {
                    drop_in(IN_DROP_TTL);
                } else {
                    switch (ipv4_lpm.apply().action_run) {
                        ipv4_route: { count_in(IN_IPV4_ROUTED); }
                        ipv4_drop: { count_in(IN_DROP_NO_ROUTE); }
                    }
                }
            } else {
                drop_in(IN_DROP_UNSUPPORTED);
            }
        }
    }
}

control MyEgress(inout headers_t hdr,
                 inout metadata_t meta,
                 inout standard_metadata_t standard_metadata) {
    counter(STATS_SIZE, CounterType.packets_and_bytes) out_stats;
    /* port_status[port] == 1 while the port is down: no carrier, or its BFD session failed
     * (written by the switch, p4src/README.md). */
    register<bit<8>>(PORT_STATUS_SIZE) port_status;

    action count_out(bit<32> code) {
        out_stats.count((code << 8) | (bit<32>)(standard_metadata.egress_port[7:0]));
    }

    action drop_out(bit<32> code) {
        out_stats.count((code << 8) | (bit<32>)(standard_metadata.egress_port[7:0]));
        mark_to_drop(standard_metadata);
    }

    action set_src_mac(bit<48> mac) {
        hdr.ethernet.src_addr = mac;
    }

    table port_mac {
        key = { standard_metadata.egress_port: exact; }
        actions = { set_src_mac; NoAction; }
        default_action = NoAction();
        size = 512;
    }

    /* ---- SR-P2MP branches, by incoming Replication-SID and replica id */
    action branch_swap(bit<20> sid, bit<48> dmac) {
        meta.br_kind = BR_SWAP;
        meta.br_sid = sid;
        meta.br_mac = dmac;
    }

    action branch_swap_push1(bit<20> sid, bit<20> sl0, bit<48> dmac) {
        meta.br_kind = BR_SWAP_PUSH1;
        meta.br_sid = sid;
        meta.br_sl0 = sl0;
        meta.br_mac = dmac;
    }

    action branch_swap_push2(bit<20> sid, bit<20> sl0, bit<20> sl1, bit<48> dmac) {
        meta.br_kind = BR_SWAP_PUSH2;
        meta.br_sid = sid;
        meta.br_sl0 = sl0;
        meta.br_sl1 = sl1;
        meta.br_mac = dmac;
    }

    action branch_pop_deliver(bit<48> host_mac) {
        meta.br_kind = BR_POP_DELIVER;
        meta.br_mac = host_mac;
    }

    table sr_branch {
        key = {
            hdr.mpls[0].label: exact;
            standard_metadata.egress_rid: exact;
        }
        actions = { branch_swap; branch_swap_push1; branch_swap_push2; branch_pop_deliver;
                    NoAction; }
        default_action = NoAction();
        size = 4096;
    }

    apply {
        bool keep = true;
        bit<8> down = 0;
        bit<8> ttl_out = 0;

        if (standard_metadata.egress_port == CPU_PORT) {
            hdr.packet_in.setValid();
            hdr.packet_in.ingress_port = (bit<16>) standard_metadata.ingress_port;
            hdr.packet_in.reason = meta.punt_reason;
            count_out(OUT_TO_CPU);
        } else {
            port_status.read(down, (bit<32>) standard_metadata.egress_port);
            if (down != 0) {
                drop_out(OUT_DROP_PORT_DOWN);
                keep = false;
            } else if (meta.cpu_direct == 0 && standard_metadata.egress_rid != 0
                       && hdr.mpls[0].isValid()) {
                meta.br_kind = BR_NONE;
                sr_branch.apply();
                ttl_out = hdr.mpls[0].ttl - 1;
                if (meta.br_kind == BR_NONE) {
                    drop_out(OUT_DROP_NO_BRANCH);
                    keep = false;
                } else if (meta.br_kind == BR_POP_DELIVER) {
                    /* leaf or bud: the local receiver gets the inner packet */
                    hdr.mpls.pop_front(1);
                    if (!hdr.mpls[0].isValid()) {
                        hdr.ethernet.ether_type = ETHERTYPE_IPV4;
                    }
                    hdr.ethernet.dst_addr = meta.br_mac;
                    count_out(OUT_MPLS_POP_DELIVER);
                } else if (hdr.mpls[0].ttl <= 1) {
                    drop_out(OUT_DROP_TTL);
                    keep = false;
                } else {
                    hdr.mpls[0].label = meta.br_sid;
                    hdr.mpls[0].ttl = ttl_out;
                    hdr.ethernet.dst_addr = meta.br_mac;
                    if (meta.br_kind == BR_SWAP_PUSH1) {
                        hdr.mpls.push_front(1);
                        hdr.mpls[0].setValid();
                        hdr.mpls[0].label = meta.br_sl0;
                        hdr.mpls[0].tc = 0;
                        hdr.mpls[0].bos = 0;
                        hdr.mpls[0].ttl = ttl_out;
                        count_out(OUT_MPLS_SWAP_PUSH);
                    } else if (meta.br_kind == BR_SWAP_PUSH2) {
                        hdr.mpls.push_front(2);
                        hdr.mpls[0].setValid();
                        hdr.mpls[0].label = meta.br_sl0;
                        hdr.mpls[0].tc = 0;
                        hdr.mpls[0].bos = 0;
                        hdr.mpls[0].ttl = ttl_out;
                        hdr.mpls[1].setValid();
                        hdr.mpls[1].label = meta.br_sl1;
                        hdr.mpls[1].tc = 0;
                        hdr.mpls[1].bos = 0;
                        hdr.mpls[1].ttl = ttl_out;
                        count_out(OUT_MPLS_SWAP_PUSH);
                    } else {
                        count_out(OUT_MPLS_SWAP);
                    }
                }
            }
            if (keep && meta.cpu_direct == 0) {
                port_mac.apply();
            }
        }
        if (keep) {
            count_out(OUT_TX);
        }
    }
}

V1Switch(CommonParser(),
         CommonVerifyChecksum(),
         MyIngress(),
         MyEgress(),
         CommonComputeChecksum(),
         CommonDeparser()) main;
