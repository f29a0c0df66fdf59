/* common.p4: what bier.p4, sr_p2mp.p4 and srv6_p2mp.p4 share: constants, headers (Ethernet,
 * RFC 8296 BIER, MPLS stack, IPv6, IPv4, UDP, packet_in/packet_out), metadata, the parser,
 * the checksum controls and the deparser. Only current v1model features are used.
 * The control-plane contract (table names, codes, groups) is p4src/README.md. */
#ifndef MCAST_COMMON_P4
#define MCAST_COMMON_P4

#include <core.p4>
#include <v1model.p4>

/* BitString length: compile with -D BSL=64|128|256|512 (RFC 8296 BSL field 1..4). */
#ifndef BSL
#define BSL 256
#endif

#if BSL == 64
#define BSL_CODE 1
#elif BSL == 128
#define BSL_CODE 2
#elif BSL == 256
#define BSL_CODE 3
#elif BSL == 512
#define BSL_CODE 4
#else
#error "BSL must be 64, 128, 256 or 512"
#endif

#define MPLS_DEPTH 4
#define STATS_SIZE 8192
#define PORT_STATUS_SIZE 512

const bit<9> CPU_PORT = 255;

const bit<16> ETHERTYPE_IPV4 = 0x0800;
const bit<16> ETHERTYPE_IPV6 = 0x86DD;
const bit<16> ETHERTYPE_MPLS = 0x8847;
const bit<16> ETHERTYPE_BIER = 0xAB37;
const bit<16> ETHERTYPE_LLDP = 0x88CC;
/* IPv6 Next Header of an IPv4 packet encapsulated in IPv6 (IANA protocol number 4) */
const bit<8> IP_PROTO_IPV4 = 4;
/* Link liveness (BFD control packets, linkmon/README.md): the switch's own agent reads them
 * from the port; the pipeline counts and drops them. IEEE 802 local experimental 1. */
const bit<16> ETHERTYPE_LIVENESS = 0x88B5;

/* packet_in reasons */
const bit<16> PUNT_LLDP = 1;
const bit<16> PUNT_ACL = 2;

/* Counter codes: index = code * 256 + port (MyIngress.in_stats: ingress port,
 * MyEgress.out_stats: egress port). */
const bit<32> IN_RX = 0;
const bit<32> IN_IPV4_ROUTED = 1;
const bit<32> IN_BIER_RX = 2;
const bit<32> IN_MPLS_REPLICATED = 3;
const bit<32> IN_MPLS_TRANSIT = 4;
const bit<32> IN_PUNT = 5;
const bit<32> IN_PACKET_OUT = 6;
const bit<32> IN_LIVENESS = 7;
const bit<32> IN_SRV6_REPLICATED = 8;
const bit<32> IN_SRV6_TRANSIT = 9;
const bit<32> IN_DROP_NO_ROUTE = 16;
const bit<32> IN_DROP_TTL = 17;
const bit<32> IN_DROP_BAD_BIER = 18;
const bit<32> IN_DROP_UNKNOWN_BIFT = 19;
const bit<32> IN_DROP_NO_BITS = 20;
const bit<32> IN_DROP_UNKNOWN_SID = 21;
const bit<32> IN_DROP_BAD_CHECKSUM = 22;
const bit<32> IN_DROP_UNSUPPORTED = 23;
const bit<32> IN_DROP_PUNT_ACL = 24;

const bit<32> OUT_TX = 0;
const bit<32> OUT_BIER_FORWARDED = 1;
const bit<32> OUT_BIER_FRR = 2;
const bit<32> OUT_BIER_DECAP = 3;
const bit<32> OUT_MPLS_SWAP = 4;
const bit<32> OUT_MPLS_SWAP_PUSH = 5;
const bit<32> OUT_MPLS_POP_DELIVER = 6;
const bit<32> OUT_TO_CPU = 7;
const bit<32> OUT_SRV6_REPLICA = 8;
const bit<32> OUT_SRV6_DECAP = 9;
const bit<32> OUT_DROP_ZERO_BITS = 16;
const bit<32> OUT_DROP_TTL = 17;
const bit<32> OUT_DROP_PORT_DOWN = 18;
const bit<32> OUT_DROP_NO_BRANCH = 19;
const bit<32> OUT_FRR_STANDBY = 20;
const bit<32> OUT_DROP_BAD_PROTO = 21;

/* ------------------------------------------------------------------ headers */

header ethernet_h {
    bit<48> dst_addr;
    bit<48> src_addr;
    bit<16> ether_type;
}

/* RFC 8296 section 2, non-MPLS encapsulation: the first word has the layout of an MPLS
 * label stack entry carrying the BIFT-id. */
header bier_h {
    bit<20> bift_id;
    bit<3> tc;
    bit<1> s;
    bit<8> ttl;
    bit<4> nibble;     /* 0b0101 */
    bit<4> ver;        /* 0 */
    bit<4> bsl;        /* 1=64 .. 4=512 */
    bit<20> entropy;
    bit<2> oam;
    bit<2> rsv;
    bit<6> dscp;
    bit<6> proto;      /* 4 = IPv4, 6 = IPv6 */
    bit<16> bfir_id;
    bit<BSL> bitstring; /* BFR-id 1 is the least significant bit */
}

header mpls_h {
    bit<20> label;
    bit<3> tc;
    bit<1> bos;
    bit<8> ttl;
}

/* RFC 8200. SRv6 (RFC 8986): the destination address is the active SID. */
header ipv6_h {
    bit<4> version;
    bit<8> traffic_class;
    bit<20> flow_label;
    bit<16> payload_len;
    bit<8> next_header;
    bit<8> hop_limit;
    bit<128> src_addr;
    bit<128> dst_addr;
}

header ipv4_h {
    bit<4> version;
    bit<4> ihl;
    bit<6> dscp;
    bit<2> ecn;
    bit<16> total_len;
    bit<16> identification;
    bit<3> flags;
    bit<13> frag_offset;
    bit<8> ttl;
    bit<8> protocol;
    bit<16> hdr_checksum;
    bit<32> src_addr;
    bit<32> dst_addr;
}

header udp_h {
    bit<16> src_port;
    bit<16> dst_port;
    bit<16> length;
    bit<16> checksum;
}

@controller_header("packet_in")
header packet_in_h {
    bit<16> ingress_port;
    bit<16> reason;
}

@controller_header("packet_out")
header packet_out_h {
    bit<16> egress_port;  /* 0: run the frame through the ingress pipeline */
}

struct headers_t {
    packet_out_h packet_out;
    packet_in_h packet_in;
    ethernet_h ethernet;
    bier_h bier;
    mpls_h[MPLS_DEPTH] mpls;
    ipv6_h ipv6;
    ipv4_h ipv4;
    udp_h udp;
}

/* Next-hop kinds chosen by egress tables. */
const bit<2> NH_NONE = 0;
const bit<2> NH_NEIGHBOR = 1;
const bit<2> NH_BACKUP = 2;
const bit<2> NH_LOCAL = 3;

/* SR-P2MP branch kinds. */
const bit<3> BR_NONE = 0;
const bit<3> BR_SWAP = 1;
const bit<3> BR_SWAP_PUSH1 = 2;
const bit<3> BR_SWAP_PUSH2 = 3;
const bit<3> BR_POP_DELIVER = 4;

struct metadata_t {
    /* set by ingress, travels with every multicast copy */
    bit<8> bier_si;
    bit<16> bier_group_base;
    bit<BSL> fbm0;
    bit<BSL> fbm1;
    bit<BSL> fbm2;
    bit<BSL> fbm3;
    bit<BSL> fbm4;
    bit<BSL> fbm5;
    bit<BSL> fbm6;
    bit<BSL> fbm7;
    bit<1> cpu_direct;      /* packet-out with an explicit port: no egress processing */
    bit<16> punt_reason;
    bit<8> mpls_ttl;
    /* set by egress tables */
    bit<2> nh_kind;
    bit<BSL> nh_fbm;
    bit<48> nh_mac;
    bit<9> nh_protected_port;
    bit<3> br_kind;
    bit<20> br_sid;
    bit<20> br_sl0;
    bit<20> br_sl1;
    bit<48> br_mac;
}

/* ------------------------------------------------------------------ parser */

parser CommonParser(packet_in packet,
                    out headers_t hdr,
                    inout metadata_t meta,
                    inout standard_metadata_t standard_metadata) {
    state start {
        transition select(standard_metadata.ingress_port) {
            CPU_PORT: parse_packet_out;
            default: parse_ethernet;
        }
    }

    state parse_packet_out {
        packet.extract(hdr.packet_out);
        transition parse_ethernet;
    }

    state parse_ethernet {
        packet.extract(hdr.ethernet);
        transition select(hdr.ethernet.ether_type) {
            ETHERTYPE_IPV4: parse_ipv4;
            ETHERTYPE_BIER: parse_bier;
            ETHERTYPE_MPLS: parse_mpls;
            ETHERTYPE_IPV6: parse_ipv6;
            default: accept;
        }
    }

    /* The payload behind BIER (Proto), behind the MPLS stack and behind an IPv6 header is not
     * parsed: forwarding never looks into it and it leaves unchanged. */
    state parse_bier {
        packet.extract(hdr.bier);
        transition accept;
    }

    state parse_mpls {
        packet.extract(hdr.mpls.next);
        transition select(hdr.mpls.last.bos) {
            1w1: accept;
            default: parse_mpls;
        }
    }

    state parse_ipv6 {
        packet.extract(hdr.ipv6);
        transition accept;
    }

    state parse_ipv4 {
        packet.extract(hdr.ipv4);
        transition select(hdr.ipv4.ihl, hdr.ipv4.protocol) {
            (4w5, 8w17): parse_udp;
            default: accept;
        }
    }

    state parse_udp {
        packet.extract(hdr.udp);
        transition accept;
    }
}

/* ------------------------------------------------------------------ checksums, deparser */

control CommonVerifyChecksum(inout headers_t hdr, inout metadata_t meta) {
    apply {
        verify_checksum(
            hdr.ipv4.isValid(),
            { hdr.ipv4.version, hdr.ipv4.ihl, hdr.ipv4.dscp, hdr.ipv4.ecn,
              hdr.ipv4.total_len, hdr.ipv4.identification, hdr.ipv4.flags,
              hdr.ipv4.frag_offset, hdr.ipv4.ttl, hdr.ipv4.protocol,
              hdr.ipv4.src_addr, hdr.ipv4.dst_addr },
            hdr.ipv4.hdr_checksum,
            HashAlgorithm.csum16);
    }
}

control CommonComputeChecksum(inout headers_t hdr, inout metadata_t meta) {
    apply {
        update_checksum(
            hdr.ipv4.isValid(),
            { hdr.ipv4.version, hdr.ipv4.ihl, hdr.ipv4.dscp, hdr.ipv4.ecn,
              hdr.ipv4.total_len, hdr.ipv4.identification, hdr.ipv4.flags,
              hdr.ipv4.frag_offset, hdr.ipv4.ttl, hdr.ipv4.protocol,
              hdr.ipv4.src_addr, hdr.ipv4.dst_addr },
            hdr.ipv4.hdr_checksum,
            HashAlgorithm.csum16);
    }
}

control CommonDeparser(packet_out packet, in headers_t hdr) {
    apply {
        packet.emit(hdr.packet_in);
        packet.emit(hdr.ethernet);
        packet.emit(hdr.bier);
        packet.emit(hdr.mpls);
        packet.emit(hdr.ipv6);
        packet.emit(hdr.ipv4);
        packet.emit(hdr.udp);
    }
}

#endif /* MCAST_COMMON_P4 */
