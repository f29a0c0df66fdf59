// SPDX-License-Identifier: GPL-2.0
/* IPv4 multicast forwarding in the kernel's place (net/ipv4/ipmr.c's ip_mr_input and
 * ip_mr_forward), as a tc ingress program on every vif's interface. The daemon (mrtd.c) fills
 * the maps from the mroute socket calls of pimd and turns the punted frames into upcalls.
 *
 * Per frame: not IPv4 multicast, or link-local (224.0.0.0/24): untouched. IGMP to a routable
 * group without Router Alert: handed to the mroute socket, not forwarded (as ip_mr_input).
 * Else look up (S,G), then (*,G) whose outgoing list holds the arrival vif; none: the entry is
 * unresolved (one NOCACHE upcall, up to 4 frames kept, 10 entries at most). Arrival vif !=
 * the entry's parent: wrong_if counted, WRONGVIF upcall at most every 3 s when asserts are on.
 * Else a copy to every vif in the outgoing list whose TTL threshold the packet's TTL exceeds
 * (never back to the arrival vif of a (*,G)), with TTL - 1, the checksum fixed and the vif's
 * MAC as source; to the register vif unchanged (it becomes a WHOLEPKT upcall). The frame itself
 * goes on to the local stack (local listeners), which does not forward it.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "mrt.h"

#define IP_OFF ETH_HLEN
#define TTL_OFF (IP_OFF + 8)
#define CSUM_OFF (IP_OFF + 10)
#define IP_DF 0x4000

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MRT_MFC_MAX);
	__type(key, struct mrt_sg);
	__type(value, struct mrt_mfc);
} mfc SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MRT_MFC_MAX);
	__type(key, struct mrt_sg);
	__type(value, struct mrt_mfc_stats);
} mfc_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MRT_MAXVIFS);
	__type(key, __u32);
	__type(value, struct mrt_vif);
} vifs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MRT_MAXVIFS);
	__type(key, __u32);
	__type(value, struct mrt_vif_stats);
} vif_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u32); /* ifindex */
	__type(value, __u32); /* vif */
} vif_of SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, struct mrt_sg);
	__type(value, struct mrt_unres);
} unres SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mrt_conf);
} conf SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mrt_drops);
} drops SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} events SEC(".maps");

static __always_inline void punt(struct __sk_buff *skb, __u32 type, __u32 vif, __u32 ifindex)
{
	struct mrt_event ev = {.type = type, .vif = vif, .ifindex = ifindex, .len = skb->len};
	__u64 flags = BPF_F_CURRENT_CPU | ((__u64)skb->len << 32);

	bpf_perf_event_output(skb, &events, flags, &ev, sizeof(ev));
}

/* ip_mr_input without a cache entry: ipmr_cache_unresolved */
static __always_inline void unresolved(struct __sk_buff *skb, struct mrt_conf *cf,
				       struct mrt_drops *dr, struct mrt_sg *key, __u32 vif,
				       __u32 ifindex)
{
	struct mrt_unres *u = bpf_map_lookup_elem(&unres, key);

	if (!u) {
		struct mrt_unres nu = {.qlen = 1, .vif = vif, .created_ns = bpf_ktime_get_ns()};

		if (cf->unres_count >= MRT_UNRES_MAX) {
			__sync_fetch_and_add(&dr->unres, 1);
			return;
		}
		if (bpf_map_update_elem(&unres, key, &nu, BPF_NOEXIST) == 0) {
			punt(skb, MRT_EV_NOCACHE, vif, ifindex);
			return;
		}
		u = bpf_map_lookup_elem(&unres, key); /* another CPU made it */
		if (!u)
			return;
	}
	if (__sync_fetch_and_add(&u->qlen, 1) < MRT_UNRES_QLEN)
		punt(skb, MRT_EV_QUEUE, vif, ifindex);
	else
		__sync_fetch_and_add(&dr->unres, 1);
}

static __always_inline int router_alert(struct __sk_buff *skb, __u32 ihl)
{
	__u8 opt[2];

	/* the kernel finds it anywhere among the options; hosts put it first */
	if (ihl <= 5 || bpf_skb_load_bytes(skb, IP_OFF + 20, opt, 2))
		return 0;
	return opt[0] == 0x94 && opt[1] == 4;
}

static __always_inline void count_out(__u32 vif, __u32 len)
{
	struct mrt_vif_stats *vs = bpf_map_lookup_elem(&vif_stats, &vif);

	if (vs) {
		__sync_fetch_and_add(&vs->pkt_out, 1);
		__sync_fetch_and_add(&vs->bytes_out, len);
	}
}

SEC("tc")
int mrt_ingress(struct __sk_buff *skb)
{
	__u32 zero = 0, ifindex = skb->ingress_ifindex, in_vif, ip_len;
	struct mrt_conf *cf = bpf_map_lookup_elem(&conf, &zero);
	struct mrt_drops *dr = bpf_map_lookup_elem(&drops, &zero);
	struct mrt_vif *inv, *ov;
	struct mrt_mfc *c;
	struct mrt_mfc_stats *st;
	struct mrt_vif_stats *ist;
	struct iphdr iph;
	struct mrt_sg key;
	__u32 *vp, daddr, on_register = 0;
	__u64 now;
	__u16 old_word, new_word;
	__u8 ttl, new_ttl;
	int ct, decremented = 0;

	if (!cf || !dr || !cf->active || skb->protocol != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;
	if (bpf_skb_load_bytes(skb, IP_OFF, &iph, sizeof(iph)) || iph.version != 4 || iph.ihl < 5)
		return TC_ACT_OK;
	daddr = bpf_ntohl(iph.daddr);
	if ((daddr & 0xf0000000) != 0xe0000000 || (daddr & 0xffffff00) == 0xe0000000)
		return TC_ACT_OK;
	vp = bpf_map_lookup_elem(&vif_of, &ifindex);
	if (!vp)
		return TC_ACT_OK;
	in_vif = *vp;
	inv = bpf_map_lookup_elem(&vifs, &in_vif);
	if (!inv || !inv->valid)
		return TC_ACT_OK;
	if (inv->flags & MRT_VIFF_REGISTER) {
		/* written by the daemon: the source MAC names the vif it arrived on */
		__u8 mac[6];

		on_register = 1;
		if (bpf_skb_load_bytes(skb, 6, mac, 6) || mac[0] != MRT_MARK0 || mac[1] != MRT_MARK1 ||
		    mac[2] != MRT_MARK2 || mac[3] != MRT_MARK3 || mac[5] >= MRT_MAXVIFS)
			return TC_ACT_SHOT;
		in_vif = mac[5];
	}
	if (in_vif >= MRT_MAXVIFS)
		return on_register ? TC_ACT_SHOT : TC_ACT_OK;
	if (iph.protocol == IPPROTO_IGMP && !router_alert(skb, iph.ihl)) {
		punt(skb, MRT_EV_IGMP, in_vif, ifindex);
		return on_register ? TC_ACT_SHOT : TC_ACT_OK;
	}

	key.origin = iph.saddr;
	key.group = iph.daddr;
	c = bpf_map_lookup_elem(&mfc, &key);
	if (!c) {
		key.origin = 0; /* (*,G): only if the arrival vif is in its list */
		c = bpf_map_lookup_elem(&mfc, &key);
		if (c && c->ttls[in_vif & (MRT_MAXVIFS - 1)] == MRT_TTL_NONE)
			c = 0;
	}
	if (!c) {
		key.origin = iph.saddr;
		unresolved(skb, cf, dr, &key, in_vif, ifindex);
		return on_register ? TC_ACT_SHOT : TC_ACT_OK;
	}

	ip_len = skb->len - ETH_HLEN;
	now = bpf_ktime_get_ns();
	st = bpf_map_lookup_elem(&mfc_stats, &key);
	if (st) {
		__sync_fetch_and_add(&st->pkt, 1);
		__sync_fetch_and_add(&st->bytes, ip_len);
		st->lastuse_ns = now;
	}
	if (c->parent != in_vif) { /* the RPF check */
		if (st) {
			__sync_fetch_and_add(&st->wrong_if, 1);
			if (cf->do_assert && (cf->do_pim || c->ttls[in_vif & (MRT_MAXVIFS - 1)] != MRT_TTL_NONE) &&
			    now > st->last_assert_ns + MRT_ASSERT_NS) {
				st->last_assert_ns = now;
				punt(skb, MRT_EV_WRONGVIF, in_vif, ifindex);
			}
		}
		return on_register ? TC_ACT_SHOT : TC_ACT_OK;
	}
	ist = bpf_map_lookup_elem(&vif_stats, &in_vif);
	if (ist) {
		__sync_fetch_and_add(&ist->pkt_in, 1);
		__sync_fetch_and_add(&ist->bytes_in, ip_len);
	}

	ttl = iph.ttl;
	new_ttl = ttl - 1;
	old_word = bpf_htons(((__u16)ttl << 8) | iph.protocol);
	new_word = bpf_htons(((__u16)new_ttl << 8) | iph.protocol);
	/* the register vif first: it gets the packet as it came (ipmr_queue_xmit reports it
	 * before ip_decrease_ttl) */
	for (ct = 0; ct < MRT_MAXVIFS; ct++) {
		__u32 v = ct;
		__u8 t = c->ttls[ct & (MRT_MAXVIFS - 1)];

		if (t == MRT_TTL_NONE || ttl <= t || (key.origin == 0 && v == in_vif))
			continue;
		ov = bpf_map_lookup_elem(&vifs, &v);
		if (!ov || !ov->valid || !(ov->flags & MRT_VIFF_REGISTER))
			continue;
		if (bpf_clone_redirect(skb, ov->ifindex, 0) == 0)
			count_out(v, ip_len);
	}
	for (ct = 0; ct < MRT_MAXVIFS; ct++) {
		__u32 v = ct;
		__u8 t = c->ttls[ct & (MRT_MAXVIFS - 1)];

		if (t == MRT_TTL_NONE || ttl <= t || (key.origin == 0 && v == in_vif))
			continue;
		ov = bpf_map_lookup_elem(&vifs, &v);
		if (!ov || !ov->valid || (ov->flags & MRT_VIFF_REGISTER))
			continue;
		if (ov->mtu && ip_len > ov->mtu) { /* ipmr would fragment (DF clear) or drop */
			__sync_fetch_and_add(&dr->mtu, 1);
			continue;
		}
		if (!decremented) {
			bpf_skb_store_bytes(skb, TTL_OFF, &new_ttl, 1, 0);
			bpf_l3_csum_replace(skb, CSUM_OFF, old_word, new_word, 2);
			decremented = 1;
		}
		bpf_skb_store_bytes(skb, 6, ov->mac, 6, 0);
		if (bpf_clone_redirect(skb, ov->ifindex, 0) == 0)
			count_out(v, ip_len);
	}
	if (on_register)
		return TC_ACT_SHOT;
	if (decremented) { /* local listeners get the packet as it arrived */
		bpf_skb_store_bytes(skb, TTL_OFF, &ttl, 1, 0);
		bpf_l3_csum_replace(skb, CSUM_OFF, new_word, old_word, 2);
	}
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
