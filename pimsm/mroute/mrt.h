/* Shared by the tc-BPF forwarding program (fwd.bpf.c) and the daemon (mrtd.c): the maps'
 * keys and values. Addresses are in network byte order, as in the kernel's MFC. */
#ifndef MRT_H
#define MRT_H

#include <linux/types.h>

#define MRT_MAXVIFS 32       /* MAXVIFS of linux/mroute.h */
#define MRT_TTL_NONE 255     /* not in the outgoing list (the kernel's 255) */
#define MRT_MFC_MAX 4096
#define MRT_UNRES_MAX 10     /* the kernel's cache_resolve_queue_len limit */
#define MRT_UNRES_QLEN 4     /* packets kept per unresolved entry (qlen > 3 drops) */
#define MRT_ASSERT_NS 3000000000ULL /* MFC_ASSERT_THRESH: 3 s between WRONGVIF upcalls */
#define MRT_VIFF_REGISTER 0x4

/* Source MAC of frames the daemon writes into the register device: 02:'m':'r':'t':0:vif,
 * the vif the frame counts as having arrived on (the register vif for decapsulated
 * registers, the original vif for packets queued while unresolved). */
#define MRT_MARK0 0x02
#define MRT_MARK1 'm'
#define MRT_MARK2 'r'
#define MRT_MARK3 't'

struct mrt_sg {
	__u32 origin; /* 0 for (*,G) */
	__u32 group;
};

struct mrt_mfc { /* what MRT_ADD_MFC installs */
	__u32 parent;
	__u8 ttls[MRT_MAXVIFS]; /* MRT_TTL_NONE: not forwarded there */
};

struct mrt_mfc_stats { /* kept apart so that a changed entry keeps its counters */
	__u64 pkt;
	__u64 bytes;
	__u64 wrong_if;
	__u64 lastuse_ns;     /* CLOCK_MONOTONIC */
	__u64 last_assert_ns;
};

struct mrt_vif {
	__u32 ifindex;
	__u32 flags; /* VIFF_* */
	__u32 mtu;
	__u8 valid;
	__u8 threshold;
	__u8 mac[6];
};

struct mrt_vif_stats {
	__u64 pkt_in;
	__u64 bytes_in;
	__u64 pkt_out;
	__u64 bytes_out;
};

struct mrt_unres {
	__u32 qlen;
	__u32 vif;
	__u64 created_ns;
};

struct mrt_conf { /* written by the daemon only */
	__u32 active;   /* an mroute socket is open */
	__u32 do_pim;   /* MRT_PIM */
	__u32 do_assert;
	__u32 do_wrvifwhole;
	__u32 unres_count;
	__u32 pad;
};

struct mrt_drops { /* written by the BPF program only */
	__u64 mtu;   /* copies not sent: longer than the outgoing vif's MTU */
	__u64 unres; /* frames dropped while unresolved (queue or entry limit) */
};

enum mrt_event_type {
	MRT_EV_NOCACHE = 1, /* IGMPMSG_NOCACHE; the frame is also queued */
	MRT_EV_WRONGVIF = 2, /* IGMPMSG_WRONGVIF (and WRVIFWHOLE when asked for) */
	MRT_EV_QUEUE = 16,   /* another frame for an unresolved entry */
	MRT_EV_IGMP = 17,    /* IGMP to a routable group: the mroute socket's own */
};

struct mrt_event { /* followed by the frame, Ethernet header included */
	__u32 type;
	__u32 vif;
	__u32 ifindex;
	__u32 len;
};

#endif
