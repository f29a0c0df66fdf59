/* The protocol between the shim (shim.c, inside pimd, zebra or ip) and the daemon (mrtd.c),
 * over the daemon's SOCK_SEQPACKET unix socket: one request, one reply (a dump: one reply per
 * route, then one with more = 0). The mroute socket's events (upcalls, IGMP packets) travel
 * on a socketpair the daemon hands over with MRTP_OP_INIT (SCM_RIGHTS); the shim puts it in
 * place of pimd's raw IGMP socket. */
#ifndef MRT_PROTO_H
#define MRT_PROTO_H

#include <stdint.h>

#define MRTP_DATA_MAX 256

enum mrtp_op {
	MRTP_OP_INIT = 1,   /* data: u32 table; reply carries the event socket */
	MRTP_OP_SETOPT = 2, /* optname, data = the setsockopt value */
	MRTP_OP_GETOPT = 3, /* optname; reply data: int */
	MRTP_OP_SGCNT = 4,  /* data/reply: struct sioc_sg_req */
	MRTP_OP_VIFCNT = 5, /* data/reply: struct sioc_vif_req */
	MRTP_OP_DUMP = 6,   /* replies: struct mrtp_route each, more = 1; then more = 0 */
	MRTP_OP_GETSG = 7,  /* data: origin, group (u32 each); reply: struct mrtp_route */
	MRTP_OP_STATUS = 8, /* reply: struct mrtp_status */
};

struct mrtp_status {
	uint32_t active; /* an mroute socket is open */
	uint32_t vifs;
	uint32_t mfcs;
	uint32_t unresolved;
	uint32_t reg_ifindex; /* pimreg; 0: no register vif */
	uint32_t do_pim;
	uint64_t event_drops; /* upcalls and IGMP packets the full event socket refused */
	uint64_t drop_mtu;    /* copies longer than the outgoing vif's MTU */
	uint64_t drop_unres;  /* frames dropped while unresolved */
};

struct mrtp_req {
	uint32_t op;
	uint32_t optname;
	uint32_t len;
	uint32_t pad;
	unsigned char data[MRTP_DATA_MAX];
};

struct mrtp_rep {
	int32_t err; /* 0 or a positive errno */
	uint32_t len;
	uint32_t more;
	uint32_t pad;
	unsigned char data[1024];
};

#define MRTP_MAXVIFS 32

struct mrtp_route { /* what the kernel's RTM_NEWROUTE for an RTNL_FAMILY_IPMR entry holds */
	uint32_t origin, group; /* network byte order */
	uint32_t table;
	uint32_t iif;        /* ifindex; 0: none */
	uint32_t unresolved; /* an entry waiting for pimd (no iif, no oifs, no stats) */
	uint32_t noifs;
	uint32_t oif[MRTP_MAXVIFS];
	uint8_t ttl[MRTP_MAXVIFS];
	uint64_t pkt, bytes, wrong_if;
	uint64_t lastuse_cs; /* centiseconds since last use (clock_t, as RTA_EXPIRES) */
};

struct mrtp_evhdr { /* before every packet on the event socket: its in_pktinfo */
	uint32_t ifindex;
	uint32_t spec_dst;
	uint32_t addr;
	uint32_t len;
};

#endif
