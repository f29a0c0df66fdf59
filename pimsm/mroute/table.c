// SPDX-License-Identifier: GPL-2.0
/* mrtd's tables as net/ipv4/ipmr.c keeps them: vif_add/vif_delete, ipmr_mfc_add/_delete with
 * ipmr_update_thresholds, the unresolved queue (ipmr_cache_unresolved, ipmr_expire_process),
 * mrtsock_destruct; every change written to the BPF maps the forwarding program reads. */
#define _GNU_SOURCE
#include "mrtd.h"

/* -- BPF maps ------------------------------------------------------------------------- */
void put_conf(void)
{
	uint32_t zero = 0;

	bpf_map_update_elem(S.m_conf, &zero, &S.conf, BPF_ANY);
}

static void put_vif(int v)
{
	struct mrt_vif mv = {0};
	struct mrt_vif_stats st = {0};
	uint32_t key = v;

	if (S.vifs[v].used) {
		struct ifreq ifr = {0};
		int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

		mv.valid = 1;
		mv.ifindex = S.vifs[v].ifindex;
		mv.flags = S.vifs[v].flags;
		mv.threshold = S.vifs[v].threshold;
		if (fd >= 0 && if_indextoname(mv.ifindex, ifr.ifr_name)) {
			if (ioctl(fd, SIOCGIFMTU, &ifr) == 0)
				mv.mtu = ifr.ifr_mtu;
			if (ioctl(fd, SIOCGIFHWADDR, &ifr) == 0)
				memcpy(mv.mac, ifr.ifr_hwaddr.sa_data, 6);
		}
		if (fd >= 0)
			close(fd);
	}
	bpf_map_update_elem(S.m_vifs, &key, &mv, BPF_ANY);
	bpf_map_update_elem(S.m_vifst, &key, &st, BPF_ANY);
}

/* vif_of: ifindex -> the highest vif on it (ipmr_find_vif scans downwards) */
static void put_vif_of(int ifindex)
{
	uint32_t k = ifindex, v;
	int i;

	for (i = S.maxvif - 1; i >= 0; i--)
		if (S.vifs[i].used && S.vifs[i].ifindex == ifindex)
			break;
	if (i < 0) {
		bpf_map_delete_elem(S.m_vifof, &k);
		return;
	}
	v = i;
	bpf_map_update_elem(S.m_vifof, &k, &v, BPF_ANY);
}

static int tc_attach(int ifindex)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_INGRESS);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = TC_HANDLE, .priority = TC_PRIO,
		    .prog_fd = S.prog_fd, .flags = BPF_TC_F_REPLACE);
	int err = bpf_tc_hook_create(&hook);

	if (err && err != -EEXIST) {
		logmsg("tc clsact on ifindex %d: %s", ifindex, strerror(-err));
		return err;
	}
	err = bpf_tc_attach(&hook, &opts);
	if (err)
		logmsg("tc attach on ifindex %d: %s", ifindex, strerror(-err));
	return err;
}

static void tc_detach(int ifindex)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_INGRESS);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = TC_HANDLE, .priority = TC_PRIO);

	int err = bpf_tc_detach(&hook, &opts);

	if (err && err != -ENODEV && err != -ENOENT) /* a vanished interface took it along */
		logmsg("tc detach on ifindex %d: %s", ifindex, strerror(-err));
}


/* -- unresolved entries ---------------------------------------------------------------- */
struct unres *unres_find(uint32_t origin, uint32_t group)
{
	for (int i = 0; i < MRT_UNRES_MAX; i++)
		if (S.unres[i].used && S.unres[i].origin == origin && S.unres[i].group == group)
			return &S.unres[i];
	return NULL;
}

static void unres_free(struct unres *u)
{
	struct mrt_sg key = {u->origin, u->group};

	for (int i = 0; i < u->n; i++)
		free(u->q[i].data);
	bpf_map_delete_elem(S.m_unres, &key);
	memset(u, 0, sizeof(*u));
	S.conf.unres_count--;
	put_conf();
}

struct unres *unres_new(uint32_t origin, uint32_t group, unsigned vif)
{
	struct unres *u = NULL;

	for (int i = 0; i < MRT_UNRES_MAX && !u; i++)
		if (!S.unres[i].used)
			u = &S.unres[i];
	if (!u)
		return NULL;
	memset(u, 0, sizeof(*u));
	u->used = 1;
	u->origin = origin;
	u->group = group;
	u->vif = vif;
	u->created_ns = now_ns();
	S.conf.unres_count++;
	put_conf();
	return u;
}

void unres_queue(struct unres *u, const unsigned char *ip, size_t len)
{
	if (u->n >= MRT_UNRES_QLEN)
		return;
	u->q[u->n].data = malloc(len);
	if (!u->q[u->n].data)
		return;
	memcpy(u->q[u->n].data, ip, len);
	u->q[u->n++].len = len;
}

void unres_expire(void)
{
	uint64_t now = now_ns();

	for (int i = 0; i < MRT_UNRES_MAX; i++)
		if (S.unres[i].used && now - S.unres[i].created_ns > UNRES_EXPIRE_NS)
			unres_free(&S.unres[i]);
	/* a BPF entry the daemon never heard of (its NOCACHE was lost): same fate */
	struct mrt_sg key, next;
	struct mrt_unres val;
	int more = bpf_map_get_next_key(S.m_unres, NULL, &next) == 0;

	while (more) {
		key = next;
		more = bpf_map_get_next_key(S.m_unres, &key, &next) == 0;
		if (bpf_map_lookup_elem(S.m_unres, &key, &val) == 0 &&
		    !unres_find(key.origin, key.group) && now - val.created_ns > UNRES_EXPIRE_NS)
			bpf_map_delete_elem(S.m_unres, &key);
	}
}


/* -- the vif table and the MFC ----------------------------------------------------------- */
static int find_dev_by_addr(struct in_addr a)
{
	struct ifaddrs *ifs, *i;
	int idx = 0;

	if (getifaddrs(&ifs) < 0)
		return 0;
	for (i = ifs; i && !idx; i = i->ifa_next)
		if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET &&
		    ((struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr == a.s_addr)
			idx = if_nametoindex(i->ifa_name);
	freeifaddrs(ifs);
	return idx;
}

static int vif_users(int ifindex)
{
	int n = 0;

	for (int i = 0; i < MRT_MAXVIFS; i++)
		n += S.vifs[i].used && S.vifs[i].ifindex == ifindex;
	return n;
}

int vif_add(const struct vifctl *vc)
{
	struct vif v = {0};
	int ifindex;

	if (vc->vifc_vifi >= MRT_MAXVIFS)
		return ENFILE;
	if (S.vifs[vc->vifc_vifi].used)
		return EADDRINUSE;
	switch (vc->vifc_flags) {
	case VIFF_REGISTER: {
		char name[IFNAMSIZ];

		if (S.reg_vif >= 0)
			return EADDRINUSE;
		if (S.table == RT_TABLE_DEFAULT)
			snprintf(name, sizeof(name), "pimreg");
		else
			snprintf(name, sizeof(name), "pimreg%u", S.table);
		S.tap_fd = tap_create(name);
		if (S.tap_fd < 0) {
			logmsg("creating %s: %s", name, strerror(-S.tap_fd));
			S.tap_fd = -1;
			return ENOBUFS;
		}
		watch(S.tap_fd, K_TAP);
		ifindex = S.tap_ifindex;
		break;
	}
	case VIFF_USE_IFINDEX:
	case 0:
		ifindex = vc->vifc_flags ? vc->vifc_lcl_ifindex : find_dev_by_addr(vc->vifc_lcl_addr);
		if (ifindex <= 0 || !if_indextoname(ifindex, (char[IFNAMSIZ]){0}))
			return EADDRNOTAVAIL;
		break;
	default: /* VIFF_TUNNEL (DVMRP tunnels) is not emulated */
		return EINVAL;
	}
	v.used = 1;
	v.flags = vc->vifc_flags;
	v.ifindex = ifindex;
	v.threshold = vc->vifc_threshold;
	v.rate_limit = vc->vifc_rate_limit;
	v.lcl = vc->vifc_lcl_addr;
	v.rmt = vc->vifc_rmt_addr;
	if (vif_users(ifindex) == 0 && tc_attach(ifindex)) {
		if (vc->vifc_flags == VIFF_REGISTER) {
			close(S.tap_fd);
			S.tap_fd = -1;
		}
		return EPERM;
	}
	S.vifs[vc->vifc_vifi] = v;
	if (vc->vifc_flags == VIFF_REGISTER)
		S.reg_vif = vc->vifc_vifi;
	if (vc->vifc_vifi + 1 > S.maxvif)
		S.maxvif = vc->vifc_vifi + 1;
	put_vif(vc->vifc_vifi);
	put_vif_of(ifindex);
	logmsg("vif %u: ifindex %d flags %#x", vc->vifc_vifi, ifindex, vc->vifc_flags);
	return 0;
}

int vif_del(unsigned vifi)
{
	int ifindex;

	if (vifi >= (unsigned)S.maxvif || !S.vifs[vifi].used)
		return EADDRNOTAVAIL;
	ifindex = S.vifs[vifi].ifindex;
	memset(&S.vifs[vifi], 0, sizeof(S.vifs[vifi]));
	put_vif(vifi);
	if (vif_users(ifindex) == 0)
		tc_detach(ifindex);
	if ((int)vifi == S.reg_vif) {
		S.reg_vif = -1;
		if (S.tap_fd >= 0)
			close(S.tap_fd); /* the TAP device goes with its last fd */
		S.tap_fd = -1;
		S.tap_ifindex = 0;
	}
	while (S.maxvif > 0 && !S.vifs[S.maxvif - 1].used)
		S.maxvif--;
	put_vif_of(ifindex);
	logmsg("vif %u deleted", vifi);
	return 0;
}

struct mfc *mfc_find(uint32_t origin, uint32_t group)
{
	for (int i = 0; i < MRT_MFC_MAX; i++)
		if (S.mfcs[i].used && S.mfcs[i].origin == origin && S.mfcs[i].group == group)
			return &S.mfcs[i];
	return NULL;
}

/* ipmr_update_thresholds: only vifs that exist now; 0 and 255 mean not forwarded */
static void mfc_thresholds(struct mfc *c, const unsigned char *ttls)
{
	c->minvif = MRT_MAXVIFS;
	c->maxvif = 0;
	memset(c->ttls, MRT_TTL_NONE, sizeof(c->ttls));
	for (int v = 0; v < S.maxvif; v++)
		if (S.vifs[v].used && ttls[v] && ttls[v] < 255) {
			c->ttls[v] = ttls[v];
			if (c->minvif > (unsigned)v)
				c->minvif = v;
			if (c->maxvif <= (unsigned)v)
				c->maxvif = v + 1;
		}
}

static void mfc_put(struct mfc *c, int fresh)
{
	struct mrt_sg key = {c->origin, c->group};
	struct mrt_mfc val = {.parent = c->parent};
	struct mrt_mfc_stats st = {0};

	memcpy(val.ttls, c->ttls, sizeof(val.ttls));
	if (fresh) {
		st.lastuse_ns = now_ns();
		bpf_map_update_elem(S.m_stats, &key, &st, BPF_ANY);
	} else if (bpf_map_lookup_elem(S.m_stats, &key, &st) == 0) {
		st.lastuse_ns = now_ns(); /* as ipmr_update_thresholds */
		bpf_map_update_elem(S.m_stats, &key, &st, BPF_ANY);
	}
	bpf_map_update_elem(S.m_mfc, &key, &val, BPF_ANY);
}

static void log_mfc(const char *what, const struct mfc *c)
{
	char a[16], b[16], oifs[3 * MRT_MAXVIFS + 1] = "";
	size_t n = 0;

	for (unsigned v = c->minvif; v < c->maxvif && v < MRT_MAXVIFS; v++)
		if (c->ttls[v] != MRT_TTL_NONE)
			n += snprintf(oifs + n, sizeof(oifs) - n, " %u", v);
	logmsg("MFC (%s,%s) %s: iif vif %u, oif vifs%s", ip4(c->origin, a), ip4(c->group, b), what,
	       c->parent, n ? oifs : " none");
}

int mfc_add(const struct mfcctl *m)
{
	struct mfc *c;
	struct unres *u;

	if (m->mfcc_parent >= MRT_MAXVIFS)
		return ENFILE;
	c = mfc_find(m->mfcc_origin.s_addr, m->mfcc_mcastgrp.s_addr);
	if (c) {
		c->parent = m->mfcc_parent;
		mfc_thresholds(c, m->mfcc_ttls);
		mfc_put(c, 0);
		log_mfc("changed", c);
		return 0;
	}
	if (m->mfcc_mcastgrp.s_addr != 0 &&
	    (ntohl(m->mfcc_mcastgrp.s_addr) & 0xf0000000) != 0xe0000000)
		return EINVAL;
	for (int i = 0; i < MRT_MFC_MAX && !c; i++)
		if (!S.mfcs[i].used)
			c = &S.mfcs[i];
	if (!c)
		return ENOMEM;
	c->used = 1;
	c->origin = m->mfcc_origin.s_addr;
	c->group = m->mfcc_mcastgrp.s_addr;
	c->parent = m->mfcc_parent;
	mfc_thresholds(c, m->mfcc_ttls);
	mfc_put(c, 1);
	log_mfc("added", c);
	/* ipmr_cache_resolve: the queued frames go through the new entry */
	u = unres_find(c->origin, c->group);
	if (u) {
		for (int i = 0; i < u->n; i++)
			tap_inject(u->vif, u->q[i].data, u->q[i].len);
		unres_free(u);
	}
	return 0;
}

int mfc_del(const struct mfcctl *m)
{
	struct mfc *c = mfc_find(m->mfcc_origin.s_addr, m->mfcc_mcastgrp.s_addr);
	struct mrt_sg key;
	char a[16], b[16];

	if (!c)
		return ENOENT;
	key.origin = c->origin;
	key.group = c->group;
	bpf_map_delete_elem(S.m_mfc, &key);
	bpf_map_delete_elem(S.m_stats, &key);
	logmsg("MFC (%s,%s) deleted", ip4(c->origin, a), ip4(c->group, b));
	memset(c, 0, sizeof(*c));
	return 0;
}

void flush(int flags)
{
	if (flags & (MRT_FLUSH_MFC | MRT_FLUSH_MFC_STATIC)) {
		for (int i = 0; i < MRT_MFC_MAX; i++)
			if (S.mfcs[i].used) {
				struct mfcctl m = {.mfcc_origin.s_addr = S.mfcs[i].origin,
						   .mfcc_mcastgrp.s_addr = S.mfcs[i].group};
				mfc_del(&m);
			}
		for (int i = 0; i < MRT_UNRES_MAX; i++)
			if (S.unres[i].used)
				unres_free(&S.unres[i]);
	}
	if (flags & (MRT_FLUSH_VIFS | MRT_FLUSH_VIFS_STATIC))
		for (int v = 0; v < MRT_MAXVIFS; v++)
			if (S.vifs[v].used)
				vif_del(v);
}

/* mrtsock_destruct: the mroute socket is gone */
void session_end(void)
{
	S.conf.active = 0;
	put_conf();
	flush(MRT_FLUSH_MFC | MRT_FLUSH_VIFS);
	S.conf = (struct mrt_conf){0};
	put_conf();
	if (S.ev_fd >= 0)
		close(S.ev_fd);
	S.ev_fd = -1;
	S.ctl_fd = -1;
	logmsg("mroute socket closed (%llu events dropped)", (unsigned long long)S.ev_drops);
}


void fill_route(struct mrtp_route *r, const struct mfc *c)
{
	struct mrt_sg key = {c->origin, c->group};
	struct mrt_mfc_stats st = {0};
	uint64_t now = now_ns();

	memset(r, 0, sizeof(*r));
	r->origin = c->origin;
	r->group = c->group;
	r->table = S.table;
	if (c->parent < MRT_MAXVIFS && S.vifs[c->parent].used)
		r->iif = S.vifs[c->parent].ifindex;
	for (unsigned v = c->minvif; v < c->maxvif && v < MRT_MAXVIFS; v++)
		if (S.vifs[v].used && c->ttls[v] < 255) {
			r->oif[r->noifs] = S.vifs[v].ifindex;
			r->ttl[r->noifs++] = c->ttls[v];
		}
	bpf_map_lookup_elem(S.m_stats, &key, &st);
	r->pkt = st.pkt;
	r->bytes = st.bytes;
	r->wrong_if = st.wrong_if;
	r->lastuse_cs = now > st.lastuse_ns ? (now - st.lastuse_ns) / 10000000ULL : 0;
}

