/* srv6_p2mp.p4: SR-P2MP replication segments (RFC 9524, RFC 9960) over SRv6 (RFC 8986),
 * IPv4 unicast and packet-in/packet-out. Contract: p4src/README.md.
 *
 * A Replication-SID is an IPv6 address in the locator of its node; the sender puts the root's
 * SID into the IPv6 destination address of an IPv4-in-IPv6 packet (Next Header 4). A node
 * whose SID table holds the destination runs End.Replicate: one copy per branch of the
 * segment's multicast group; a branch to a downstream node rewrites the destination to that
 * node's Replication-SID (Hop Limit - 1), a branch to a local receiver removes the IPv6
 * header and delivers the inner IPv4 packet (leaf or bud). A node that holds no segment of
 * the tree forwards by plain IPv6 routing on the destination's locator: transit nodes of a
 * tree need no state of it. */
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

    /* ---- SRv6: the Replication-SIDs of the segments at this node (End.Replicate) */
    action end_replicate(bit<16> group) {
        standard_metadata.mcast_grp = group;
    }

    table srv6_sid {
        key = { hdr.ipv6.dst_addr: exact; }
        actions = { end_replicate; NoAction; }
        default_action = NoAction();
        size = 1024;
    }

    /* ---- SRv6 transit: other nodes' locators, routed by longest prefix */
    action locator_route(bit<9> port, bit<48> dmac) {
        standard_metadata.egress_spec = port;
        hdr.ethernet.dst_addr = dmac;
        hdr.ipv6.hop_limit = hdr.ipv6.hop_limit - 1;
    }

    table srv6_locator {
        key = { hdr.ipv6.dst_addr: lpm; }
        actions = { locator_route; NoAction; }
        default_action = NoAction();
        size = 1024;
    }

    apply {
        bool done = false;
        bit<8> hop_in = 0;
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
            if (hdr.ipv6.isValid()) {
                hop_in = hdr.ipv6.hop_limit;
                if (hop_in == 0) {
                    drop_in(IN_DROP_TTL);
                } else if (srv6_sid.apply().hit) {
                    count_in(IN_SRV6_REPLICATED);
                } else if (srv6_locator.apply().hit) {
                    if (hop_in <= 1) {
                        drop_in(IN_DROP_TTL);
                    } else {
                        count_in(IN_SRV6_TRANSIT);
                    }
                } else {
                    drop_in(IN_DROP_UNKNOWN_SID);
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

    /* ---- SRv6 branches, by incoming Replication-SID and replica id */
    /* the destination becomes the downstream SID here, after the lookup it keyed */
    action branch_replicate(bit<128> sid, bit<48> dmac) {
        meta.br_kind = BR_SWAP;
        hdr.ipv6.dst_addr = sid;
        meta.br_mac = dmac;
    }

    action branch_decap(bit<48> host_mac) {
        meta.br_kind = BR_POP_DELIVER;
        meta.br_mac = host_mac;
    }

    table srv6_branch {
        key = {
            hdr.ipv6.dst_addr: exact;
            standard_metadata.egress_rid: exact;
        }
        actions = { branch_replicate; branch_decap; NoAction; }
        default_action = NoAction();
        size = 4096;
    }

    apply {
        bool keep = true;
        bit<8> down = 0;

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
                       && hdr.ipv6.isValid()) {
                meta.br_kind = BR_NONE;
                srv6_branch.apply();
                if (meta.br_kind == BR_NONE) {
                    drop_out(OUT_DROP_NO_BRANCH);
                    keep = false;
                } else if (meta.br_kind == BR_POP_DELIVER) {
                    /* leaf or bud: the local receiver gets the inner IPv4 packet */
                    if (hdr.ipv6.next_header != IP_PROTO_IPV4) {
                        drop_out(OUT_DROP_BAD_PROTO);
                        keep = false;
                    } else {
                        hdr.ipv6.setInvalid();
                        hdr.ethernet.ether_type = ETHERTYPE_IPV4;
                        hdr.ethernet.dst_addr = meta.br_mac;
                        count_out(OUT_SRV6_DECAP);
                    }
                } else if (hdr.ipv6.hop_limit <= 1) {
                    drop_out(OUT_DROP_TTL);
                    keep = false;
                } else {
                    hdr.ipv6.hop_limit = hdr.ipv6.hop_limit - 1;
                    hdr.ethernet.dst_addr = meta.br_mac;
                    count_out(OUT_SRV6_REPLICA);
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
