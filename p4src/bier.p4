/* bier.p4: BIER (RFC 8279, RFC 8296 non-MPLS encapsulation, Ethertype 0xAB37) with
 * one-pass replication, BFER decapsulation, BIER-FRR link protection, IPv4 unicast and
 * packet-in/packet-out. Contract: p4src/README.md.
 *
 * One pass: ingress tests the BitString against up to 8 slot F-BMs and picks the
 * multicast group group_base + mask that replicates to exactly the next hops of the hit
 * slots; egress ANDs each copy with its own next hop's F-BM (by SI and egress_rid). This
 * equals RFC 8279 section 6.5 when the next hops' F-BMs are pairwise disjoint (README). */
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

    /* ---- BIER: the BIFT-id gives the SI and the slot F-BMs of that SI */
    action bier_set_slots(bit<8> si, bit<16> group_base,
                          bit<BSL> fbm0, bit<BSL> fbm1, bit<BSL> fbm2, bit<BSL> fbm3,
                          bit<BSL> fbm4, bit<BSL> fbm5, bit<BSL> fbm6, bit<BSL> fbm7) {
        meta.bier_si = si;
        meta.bier_group_base = group_base;
        meta.fbm0 = fbm0;
        meta.fbm1 = fbm1;
        meta.fbm2 = fbm2;
        meta.fbm3 = fbm3;
        meta.fbm4 = fbm4;
        meta.fbm5 = fbm5;
        meta.fbm6 = fbm6;
        meta.fbm7 = fbm7;
    }

    action bier_unknown_bift() {
        in_stats.count((IN_DROP_UNKNOWN_BIFT << 8)
                       | (bit<32>)(standard_metadata.ingress_port[7:0]));
        mark_to_drop(standard_metadata);
    }

    table bier_bift {
        key = { hdr.bier.bift_id: exact; }
        actions = { bier_set_slots; bier_unknown_bift; }
        default_action = bier_unknown_bift();
        size = 256;
    }

    apply {
        bool done = false;
        bit<8> mask = 0;
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
            if (hdr.bier.isValid()) {
                if (hdr.bier.nibble != 4w5 || hdr.bier.ver != 0 || hdr.bier.bsl != BSL_CODE) {
                    drop_in(IN_DROP_BAD_BIER);
                } else if (hdr.bier.ttl == 0) {
                    drop_in(IN_DROP_TTL);
                } else if (bier_bift.apply().hit) {
                    if ((hdr.bier.bitstring & meta.fbm0) != 0) { mask = mask | 8w0x01; }
                    if ((hdr.bier.bitstring & meta.fbm1) != 0) { mask = mask | 8w0x02; }
                    if ((hdr.bier.bitstring & meta.fbm2) != 0) { mask = mask | 8w0x04; }
                    if ((hdr.bier.bitstring & meta.fbm3) != 0) { mask = mask | 8w0x08; }
                    if ((hdr.bier.bitstring & meta.fbm4) != 0) { mask = mask | 8w0x10; }
                    if ((hdr.bier.bitstring & meta.fbm5) != 0) { mask = mask | 8w0x20; }
                    if ((hdr.bier.bitstring & meta.fbm6) != 0) { mask = mask | 8w0x40; }
                    if ((hdr.bier.bitstring & meta.fbm7) != 0) { mask = mask | 8w0x80; }
                    if (mask == 0) {
                        drop_in(IN_DROP_NO_BITS);
                    } else {
                        standard_metadata.mcast_grp = meta.bier_group_base + (bit<16>) mask;
                        count_in(IN_BIER_RX);
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

    /* ---- BIER next hops, by SI and replica id */
    action nh_neighbor(bit<BSL> fbm, bit<48> dmac) {
        meta.nh_kind = NH_NEIGHBOR;
        meta.nh_fbm = fbm;
        meta.nh_mac = dmac;
    }

    action nh_backup(bit<BSL> fbm, bit<48> dmac, bit<9> protected_port) {
        meta.nh_kind = NH_BACKUP;
        meta.nh_fbm = fbm;
        meta.nh_mac = dmac;
        meta.nh_protected_port = protected_port;
    }

    action nh_local(bit<BSL> fbm, bit<48> host_mac) {
        meta.nh_kind = NH_LOCAL;
        meta.nh_fbm = fbm;
        meta.nh_mac = host_mac;
    }

    table bier_nh {
        key = {
            meta.bier_si: exact;
            standard_metadata.egress_rid: exact;
        }
        actions = { nh_neighbor; nh_backup; nh_local; NoAction; }
        default_action = NoAction();
        size = 4096;
    }

    apply {
        bool keep = true;
        bit<8> down = 0;
        bit<8> protected_down = 0;
        bit<BSL> out_bits = 0;

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
            } else if (meta.cpu_direct == 0 && hdr.bier.isValid()) {
                meta.nh_kind = NH_NONE;
                bier_nh.apply();
                out_bits = hdr.bier.bitstring & meta.nh_fbm;
                if (meta.nh_kind == NH_NONE) {
                    drop_out(OUT_DROP_NO_BRANCH);
                    keep = false;
                } else if (meta.nh_kind == NH_LOCAL) {
                    /* BFER: deliver the payload to the local receiver behind this bit */
                    if (out_bits == 0) {
                        drop_out(OUT_DROP_ZERO_BITS);
                        keep = false;
                    } else if (hdr.bier.proto == 4) {
                        hdr.ethernet.ether_type = ETHERTYPE_IPV4;
                    } else if (hdr.bier.proto == 6) {
                        hdr.ethernet.ether_type = ETHERTYPE_IPV6;
                    } else {
                        drop_out(OUT_DROP_BAD_PROTO);
                        keep = false;
                    }
                    if (keep) {
                        hdr.bier.setInvalid();
                        hdr.ethernet.dst_addr = meta.nh_mac;
                        count_out(OUT_BIER_DECAP);
                    }
                } else {
                    if (meta.nh_kind == NH_BACKUP) {
                        port_status.read(protected_down, (bit<32>) meta.nh_protected_port);
                    }
                    if (meta.nh_kind == NH_BACKUP && protected_down == 0) {
                        drop_out(OUT_FRR_STANDBY);
                        keep = false;
                    } else if (out_bits == 0) {
                        drop_out(OUT_DROP_ZERO_BITS);
                        keep = false;
                    } else if (hdr.bier.ttl <= 1) {
                        drop_out(OUT_DROP_TTL);
                        keep = false;
                    } else {
                        hdr.bier.bitstring = out_bits;
                        hdr.bier.ttl = hdr.bier.ttl - 1;
                        hdr.ethernet.dst_addr = meta.nh_mac;
                        if (meta.nh_kind == NH_BACKUP) {
                            count_out(OUT_BIER_FRR);
                        } else {
                            count_out(OUT_BIER_FORWARDED);
                        }
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
