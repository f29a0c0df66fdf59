// SPDX-License-Identifier: GPL-2.0
/* mrtd: the kernel's IPv4 multicast routing (net/ipv4/ipmr.c) for one network namespace whose
 * kernel is built without CONFIG_IP_MROUTE. It keeps the vif table and the MFC that pimd
 * programs through its mroute socket (the shim forwards the calls here), forwards in a tc-BPF
 * program on every vif's interface (fwd.bpf.c), and gives pimd what the kernel would put on
 * the mroute socket: the upcalls NOCACHE, WRONGVIF, WHOLEPKT and WRVIFWHOLE, and every IGMP
 * packet the router receives. The register vif is a TAP device named pimreg: what is sent on
 * it becomes a WHOLEPKT upcall; PIM Registers addressed to this router are decapsulated into
 * it (pim_rcv), so their inner packets are forwarded as arriving on the register vif.
 *
 *   mrtd --socket PATH --bpf OBJ [--owner UID]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <linux/if_tun.h>
#include <linux/mroute.h>
#include <linux/rtnetlink.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "mrt.h"
#include "proto.h"

#define MAX_CLIENTS 64
#define UNRES_EXPIRE_NS 10000000000ULL /* the kernel's 10 s */
#define FRAME_MAX 65536
#define TC_HANDLE 0x4d52
#define TC_PRIO 7

enum { K_LISTEN = 1, K_CLIENT, K_PERF, K_IGMP, K_PIM, K_TAP, K_TIMER, K_SIGNAL };

struct vif {
	int used;
	unsigned flags;
	int ifindex;
	unsigned char threshold;
	unsigned rate_limit;
	struct in_addr lcl, rmt;
};

struct mfc {
	int used;
	uint32_t origin, group;
	unsigned parent;
	unsigned char ttls[MRT_MAXVIFS];
	unsigned minvif, maxvif;
};

struct frame {
	unsigned len;
	unsigned char *data;
};

struct unres {
	int used;
	uint32_t origin, group;
	unsigned vif;
	uint64_t created_ns;
	int n;
	struct frame q[MRT_UNRES_QLEN];
};

static struct {
	const char *sock_path;
	int listen_fd, epfd, sig_fd, timer_fd, igmp_fd, pim_fd;
	struct bpf_object *obj;
	int prog_fd, m_mfc, m_stats, m_vifs, m_vifst, m_vifof, m_unres, m_conf, m_drops;
	struct perf_buffer *pb;
	int clients[MAX_CLIENTS];
	/* the mroute socket (one per table, as the kernel) */
	int ctl_fd, ev_fd;
	unsigned table, pending_table;
	struct mrt_conf conf;
	struct vif vifs[MRT_MAXVIFS];
	int maxvif, reg_vif;
	int tap_fd, tap_ifindex;
	struct mfc mfcs[MRT_MFC_MAX];
	struct unres unres[MRT_UNRES_MAX];
	uint64_t ev_drops;
} S;

static void logmsg(const char *fmt, ...)
{
	struct timespec ts;
	va_list ap;

	clock_gettime(CLOCK_REALTIME, &ts);
	fprintf(stderr, "%ld.%06ld mrtd: ", (long)ts.tv_sec, ts.tv_nsec / 1000);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static const char *ip4(uint32_t a, char *buf)
{
	unsigned char *b = (unsigned char *)&a;

	sprintf(buf, "%u.%u.%u.%u", b[0], b[1], b[2], b[3]);
	return buf;
}

static void watch(int fd, int kind)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = ((uint64_t)kind << 32) | (uint32_t)fd};

	if (epoll_ctl(S.epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		logmsg("epoll_ctl(%d): %s", fd, strerror(errno));
		exit(1);
	}
}

/* -- BPF maps ------------------------------------------------------------------------- */
static void put_conf(void)
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

/* -- the event socket ----------------------------------------------------------------- */
static void send_event(uint32_t ifindex, uint32_t spec_dst, uint32_t addr, const void *a,
		       size_t alen, const void *b, size_t blen)
{
	struct mrtp_evhdr h = {.ifindex = ifindex, .spec_dst = spec_dst, .addr = addr,
			       .len = alen + blen};
	struct iovec iov[3] = {{&h, sizeof(h)}, {(void *)a, alen}, {(void *)b, blen}};
	struct msghdr m = {.msg_iov = iov, .msg_iovlen = b ? 3 : 2};

	if (S.ev_fd < 0)
		return;
	if (sendmsg(S.ev_fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		S.ev_drops++; /* a full socket drops, as sock_queue_rcv_skb */
}

/* ipmr_cache_report: ip = the IPv4 packet that caused it */
static void upcall(int type, unsigned vif, uint32_t ifindex, const unsigned char *ip, size_t len)
{
	const struct iphdr *iph = (const void *)ip;
	unsigned ihl = iph->ihl * 4;
	unsigned char msg[60 + 8];

	if (len < sizeof(*iph) || ihl < 20 || ihl > len)
		return;
	if (type == IGMPMSG_WHOLEPKT || type == IGMPMSG_WRVIFWHOLE) {
		struct iphdr *h = (void *)msg;

		memcpy(msg, ip, 20); /* a copy of the header, ihl 5, in front of the whole packet */
		h->ihl = 5;
		h->tot_len = htons(ntohs(iph->tot_len) + 20);
		msg[8] = type;
		msg[9] = 0;
		msg[10] = vif & 0xff;
		msg[11] = vif >> 8;
		send_event(ifindex, 0, iph->daddr, msg, 20, ip, len);
		return;
	}
	memcpy(msg, ip, ihl); /* the header alone, then an igmphdr */
	memset(msg + ihl, 0, 8);
	msg[ihl] = type;
	((struct iphdr *)msg)->tot_len = htons(ihl + 8);
	msg[8] = type;
	msg[9] = 0;
	msg[10] = vif & 0xff;
	msg[11] = vif >> 8;
	send_event(ifindex, 0, iph->daddr, msg, ihl + 8, NULL, 0);
}

/* -- the register device -------------------------------------------------------------- */
static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	int ok;

	if (fd < 0)
		return -1;
	ok = write(fd, text, strlen(text)) == (ssize_t)strlen(text);
	close(fd);
	return ok ? 0 : -1;
}

static int tap_create(char *name)
{
	struct ifreq ifr = {0};
	char path[128];
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK), s;

	if (fd < 0)
		return -errno;
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		int e = errno;

		close(fd);
		return -e;
	}
	/* like the kernel's pimreg: no IPv6, no ARP, MTU 1472, up */
	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6", name);
	write_file(path, "1");
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ifr.ifr_mtu = 1472;
	ioctl(s, SIOCSIFMTU, &ifr);
	ifr.ifr_flags = IFF_UP | IFF_NOARP | IFF_RUNNING;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		logmsg("%s up: %s", name, strerror(errno));
	close(s);
	S.tap_ifindex = if_nametoindex(name);
	return fd;
}

/* frames the stack or the BPF program sent on pimreg: WHOLEPKT (reg_vif_xmit) */
static void tap_read(void)
{
	static unsigned char buf[FRAME_MAX];
	ssize_t n;

	while ((n = read(S.tap_fd, buf, sizeof(buf))) > 0) {
		if (n < 14 + 20 || buf[12] != 0x08 || buf[13] != 0x00 || S.reg_vif < 0)
			continue;
		upcall(IGMPMSG_WHOLEPKT, S.reg_vif, S.tap_ifindex, buf + 14, n - 14);
	}
}

/* a frame into pimreg's ingress, counted as arriving on vif */
static void tap_inject(unsigned vif, const unsigned char *ip, size_t len)
{
	unsigned char eth[14] = {0x01, 0x00, 0x5e, ip[17] & 0x7f, ip[18], ip[19],
				 MRT_MARK0, MRT_MARK1, MRT_MARK2, MRT_MARK3, 0, vif, 0x08, 0x00};
	struct iovec iov[2] = {{eth, 14}, {(void *)ip, len}};

	if (S.tap_fd < 0)
		return;
	if (writev(S.tap_fd, iov, 2) < 0)
		logmsg("pimreg inject: %s", strerror(errno));
}

/* -- unresolved entries ---------------------------------------------------------------- */
static struct unres *unres_find(uint32_t origin, uint32_t group)
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

static void unres_queue(struct unres *u, const unsigned char *ip, size_t len)
{
	if (u->n >= MRT_UNRES_QLEN)
		return;
	u->q[u->n].data = malloc(len);
	if (!u->q[u->n].data)
		return;
	memcpy(u->q[u->n].data, ip, len);
	u->q[u->n++].len = len;
}

static void unres_expire(void)
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

/* -- perf events from the BPF program -------------------------------------------------- */
static void on_sample(void *ctx, int cpu, void *data, __u32 size)
{
	struct mrt_event *ev = data;
	unsigned char *frame = (unsigned char *)(ev + 1);
	const unsigned char *ip;
	size_t len;
	struct unres *u;
	char a[16], b[16];

	(void)ctx;
	(void)cpu;
	if (size < sizeof(*ev) || ev->len > size - sizeof(*ev) || ev->len < 14 + 20)
		return;
	ip = frame + 14;
	len = ev->len - 14;
	const struct iphdr *iph = (const void *)ip;

	switch (ev->type) {
	case MRT_EV_NOCACHE:
		u = unres_find(iph->saddr, iph->daddr);
		if (!u) {
			for (int i = 0; i < MRT_UNRES_MAX && !u; i++)
				if (!S.unres[i].used)
					u = &S.unres[i];
			if (!u)
				return;
			memset(u, 0, sizeof(*u));
			u->used = 1;
			u->origin = iph->saddr;
			u->group = iph->daddr;
			u->vif = ev->vif;
			u->created_ns = now_ns();
			S.conf.unres_count++;
			put_conf();
		}
		unres_queue(u, ip, len);
		logmsg("NOCACHE (%s,%s) vif %u", ip4(iph->saddr, a), ip4(iph->daddr, b), ev->vif);
		upcall(IGMPMSG_NOCACHE, ev->vif, ev->ifindex, ip, len);
		break;
	case MRT_EV_QUEUE:
		u = unres_find(iph->saddr, iph->daddr);
		if (u)
			unres_queue(u, ip, len);
		break;
	case MRT_EV_WRONGVIF:
		upcall(IGMPMSG_WRONGVIF, ev->vif, ev->ifindex, ip, len);
		if (S.conf.do_wrvifwhole)
			upcall(IGMPMSG_WRVIFWHOLE, ev->vif, ev->ifindex, ip, len);
		break;
	case MRT_EV_IGMP:
		send_event(ev->ifindex, 0, iph->daddr, ip, len, NULL, 0);
		break;
	}
}

static void on_lost(void *ctx, int cpu, __u64 n)
{
	(void)ctx;
	logmsg("%llu punted frames lost on cpu %d", (unsigned long long)n, cpu);
}

/* -- IGMP and PIM Register reception ---------------------------------------------------- */
static void igmp_read(void)
{
	static unsigned char buf[FRAME_MAX];
	char cbuf[256];

	for (;;) {
		struct iovec iov = {buf, sizeof(buf)};
		struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
				   .msg_controllen = sizeof(cbuf)};
		struct in_pktinfo pi = {0};
		ssize_t n = recvmsg(S.igmp_fd, &m, MSG_DONTWAIT);

		if (n <= 0)
			return;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
			if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO)
				memcpy(&pi, CMSG_DATA(c), sizeof(pi));
		send_event(pi.ipi_ifindex, pi.ipi_spec_dst.s_addr, pi.ipi_addr.s_addr, buf, n, NULL, 0);
	}
}

static int csum_ok(const unsigned char *p, size_t len)
{
	uint32_t sum = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (p[i] << 8) | p[i + 1];
	if (len & 1)
		sum += p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return sum == 0xffff;
}

/* pim_rcv / __pim_rcv */
static void pim_read(void)
{
	static unsigned char buf[FRAME_MAX];

	for (;;) {
		ssize_t n = recv(S.pim_fd, buf, sizeof(buf), MSG_DONTWAIT);
		const struct iphdr *outer = (const void *)buf, *inner;
		unsigned ihl, pimlen = 8;
		const unsigned char *pim;

		if (n <= 0)
			return;
		ihl = outer->ihl * 4;
		if (n < (ssize_t)(ihl + pimlen + 20) || !S.conf.do_pim || S.reg_vif < 0)
			continue;
		pim = buf + ihl;
		if (pim[0] != 0x21 || (pim[4] & 0x40)) /* PIMv2 Register; not a Null-Register */
			continue;
		if (!csum_ok(pim, pimlen) && !csum_ok(pim, n - ihl))
			continue;
		inner = (const void *)(pim + pimlen);
		if ((ntohl(inner->daddr) & 0xf0000000) != 0xe0000000 || inner->tot_len == 0 ||
		    ntohs(inner->tot_len) + pimlen > (size_t)(n - ihl))
			continue;
		tap_inject(S.reg_vif, (const unsigned char *)inner, ntohs(inner->tot_len));
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

static int vif_add(const struct vifctl *vc)
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

static int vif_del(unsigned vifi)
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

static struct mfc *mfc_find(uint32_t origin, uint32_t group)
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

static int mfc_add(const struct mfcctl *m)
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

static int mfc_del(const struct mfcctl *m)
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

static void flush(int flags)
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
static void session_end(void)
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

/* -- requests ------------------------------------------------------------------------------ */
static int int_opt(const struct mrtp_req *q, int *val)
{
	if (q->len != sizeof(int))
		return EINVAL;
	memcpy(val, q->data, sizeof(int));
	return 0;
}

static int setopt(int client, const struct mrtp_req *q)
{
	int val, err;

	if (client != S.ctl_fd)
		return EACCES;
	switch (q->optname) {
	case MRT_DONE:
		return 0; /* the shim closes the connection next */
	case MRT_ADD_VIF:
	case MRT_DEL_VIF: {
		struct vifctl vc;

		if (q->len != sizeof(vc))
			return EINVAL;
		memcpy(&vc, q->data, sizeof(vc));
		return q->optname == MRT_ADD_VIF ? vif_add(&vc) : vif_del(vc.vifc_vifi);
	}
	case MRT_ADD_MFC:
	case MRT_DEL_MFC:
	case MRT_ADD_MFC_PROXY:
	case MRT_DEL_MFC_PROXY: {
		struct mfcctl m;

		if (q->len != sizeof(m))
			return EINVAL;
		memcpy(&m, q->data, sizeof(m));
		if (q->optname == MRT_DEL_MFC || q->optname == MRT_DEL_MFC_PROXY)
			return mfc_del(&m);
		return mfc_add(&m);
	}
	case MRT_ASSERT:
		if ((err = int_opt(q, &val)))
			return err;
		S.conf.do_assert = val != 0;
		put_conf();
		return 0;
	case MRT_PIM:
		if ((err = int_opt(q, &val)))
			return err;
		if ((val != 0) != S.conf.do_pim) {
			S.conf.do_pim = val != 0;
			S.conf.do_assert = val != 0;
			S.conf.do_wrvifwhole = val == IGMPMSG_WRVIFWHOLE;
		}
		put_conf();
		return 0;
	case MRT_FLUSH:
		if ((err = int_opt(q, &val)))
			return err;
		flush(val);
		return 0;
	case MRT_TABLE:
		return EBUSY; /* only before MRT_INIT */
	default:
		return ENOPROTOOPT;
	}
}

static void fill_route(struct mrtp_route *r, const struct mfc *c)
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

static void reply(int fd, int err, const void *data, size_t len, int more)
{
	struct mrtp_rep r = {.err = err, .len = len, .more = more};

	if (len > sizeof(r.data))
		len = sizeof(r.data);
	if (data)
		memcpy(r.data, data, len);
	send(fd, &r, offsetof(struct mrtp_rep, data) + len, MSG_NOSIGNAL);
}

static void do_init(int fd, const struct mrtp_req *q)
{
	int sv[2];
	uint32_t table;
	char cbuf[CMSG_SPACE(sizeof(int))] = {0};
	struct mrtp_rep r = {0};
	struct iovec iov = {&r, offsetof(struct mrtp_rep, data)};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			   .msg_controllen = sizeof(cbuf)};
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	int big = 8 << 20;

	if (S.ctl_fd >= 0) {
		reply(fd, EADDRINUSE, NULL, 0, 0);
		return;
	}
	memcpy(&table, q->data, sizeof(table));
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		reply(fd, errno, NULL, 0, 0);
		return;
	}
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof(big));
	setsockopt(sv[1], SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &sv[1], sizeof(int));
	if (sendmsg(fd, &m, MSG_NOSIGNAL) < 0) {
		close(sv[0]);
		close(sv[1]);
		return;
	}
	close(sv[1]);
	S.ctl_fd = fd;
	S.ev_fd = sv[0];
	S.ev_drops = 0;
	S.table = table ? table : RT_TABLE_DEFAULT;
	S.conf = (struct mrt_conf){.active = 1};
	put_conf();
	logmsg("mroute socket open (table %u)", S.table);
}

static void handle(int fd, const struct mrtp_req *q, size_t n)
{
	int val;

	if (n < offsetof(struct mrtp_req, data) || q->len > MRTP_DATA_MAX) {
		reply(fd, EINVAL, NULL, 0, 0);
		return;
	}
	switch (q->op) {
	case MRTP_OP_INIT:
		do_init(fd, q);
		return;
	case MRTP_OP_SETOPT:
		reply(fd, setopt(fd, q), NULL, 0, 0);
		return;
	case MRTP_OP_GETOPT:
		if (fd != S.ctl_fd) {
			reply(fd, EACCES, NULL, 0, 0);
			return;
		}
		switch (q->optname) {
		case MRT_VERSION:
			val = 0x0305;
			break;
		case MRT_PIM:
			val = S.conf.do_pim;
			break;
		case MRT_ASSERT:
			val = S.conf.do_assert;
			break;
		default:
			reply(fd, ENOPROTOOPT, NULL, 0, 0);
			return;
		}
		reply(fd, 0, &val, sizeof(val), 0);
		return;
	case MRTP_OP_SGCNT: {
		struct sioc_sg_req sr;
		struct mfc *c;
		struct mrtp_route r;

		memcpy(&sr, q->data, sizeof(sr));
		c = mfc_find(sr.src.s_addr, sr.grp.s_addr);
		if (!c) {
			reply(fd, EADDRNOTAVAIL, NULL, 0, 0);
			return;
		}
		fill_route(&r, c);
		sr.pktcnt = r.pkt;
		sr.bytecnt = r.bytes;
		sr.wrong_if = r.wrong_if;
		reply(fd, 0, &sr, sizeof(sr), 0);
		return;
	}
	case MRTP_OP_VIFCNT: {
		struct sioc_vif_req vr;
		struct mrt_vif_stats st = {0};
		uint32_t key;

		memcpy(&vr, q->data, sizeof(vr));
		if (vr.vifi >= S.maxvif) {
			reply(fd, EINVAL, NULL, 0, 0);
			return;
		}
		if (!S.vifs[vr.vifi].used) {
			reply(fd, EADDRNOTAVAIL, NULL, 0, 0);
			return;
		}
		key = vr.vifi;
		bpf_map_lookup_elem(S.m_vifst, &key, &st);
		vr.icount = st.pkt_in;
		vr.ocount = st.pkt_out;
		vr.ibytes = st.bytes_in;
		vr.obytes = st.bytes_out;
		reply(fd, 0, &vr, sizeof(vr), 0);
		return;
	}
	case MRTP_OP_DUMP: {
		struct mrtp_route r;

		if (S.ctl_fd >= 0) {
			for (int i = 0; i < MRT_MFC_MAX; i++)
				if (S.mfcs[i].used) {
					fill_route(&r, &S.mfcs[i]);
					reply(fd, 0, &r, sizeof(r), 1);
				}
			for (int i = 0; i < MRT_UNRES_MAX; i++)
				if (S.unres[i].used) {
					memset(&r, 0, sizeof(r));
					r.origin = S.unres[i].origin;
					r.group = S.unres[i].group;
					r.table = S.table;
					r.unresolved = 1;
					reply(fd, 0, &r, sizeof(r), 1);
				}
		}
		reply(fd, 0, NULL, 0, 0);
		return;
	}
	case MRTP_OP_GETSG: {
		uint32_t sg[2];
		struct mfc *c;
		struct mrtp_route r;

		memcpy(sg, q->data, sizeof(sg));
		c = S.ctl_fd >= 0 ? mfc_find(sg[0], sg[1]) : NULL;
		if (!c) {
			reply(fd, ENOENT, NULL, 0, 0);
			return;
		}
		fill_route(&r, c);
		reply(fd, 0, &r, sizeof(r), 0);
		return;
	}
	case MRTP_OP_STATUS: {
		struct mrtp_status ms = {.active = S.ctl_fd >= 0, .unresolved = S.conf.unres_count,
					 .reg_ifindex = S.reg_vif >= 0 ? S.tap_ifindex : 0,
					 .do_pim = S.conf.do_pim, .event_drops = S.ev_drops};
		struct mrt_drops dr = {0};
		uint32_t zero = 0;

		for (int v = 0; v < MRT_MAXVIFS; v++)
			ms.vifs += S.vifs[v].used;
		for (int i = 0; i < MRT_MFC_MAX; i++)
			ms.mfcs += S.mfcs[i].used;
		bpf_map_lookup_elem(S.m_drops, &zero, &dr);
		ms.drop_mtu = dr.mtu;
		ms.drop_unres = dr.unres;
		reply(fd, 0, &ms, sizeof(ms), 0);
		return;
	}
	default:
		reply(fd, EINVAL, NULL, 0, 0);
	}
}

static void client_close(int slot)
{
	int fd = S.clients[slot];

	epoll_ctl(S.epfd, EPOLL_CTL_DEL, fd, NULL);
	if (fd == S.ctl_fd)
		session_end();
	close(fd);
	S.clients[slot] = -1;
}

static void client_read(int fd)
{
	struct mrtp_req q;
	ssize_t n;
	int slot = -1;

	for (int i = 0; i < MAX_CLIENTS; i++)
		if (S.clients[i] == fd)
			slot = i;
	n = recv(fd, &q, sizeof(q), MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		if (slot >= 0)
			client_close(slot);
		return;
	}
	handle(fd, &q, n);
}

static void accept_client(void)
{
	int fd = accept4(S.listen_fd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0)
		return;
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (S.clients[i] < 0) {
			S.clients[i] = fd;
			watch(fd, K_CLIENT);
			return;
		}
	close(fd);
}

/* -- start-up ------------------------------------------------------------------------------ */
static int map_fd(const char *name)
{
	int fd = bpf_object__find_map_fd_by_name(S.obj, name);

	if (fd < 0) {
		logmsg("the BPF object has no map %s", name);
		exit(1);
	}
	return fd;
}

static void load_bpf(const char *path)
{
	struct bpf_program *prog;
	int err;

	S.obj = bpf_object__open_file(path, NULL);
	if (!S.obj) {
		logmsg("cannot open %s: %s", path, strerror(errno));
		exit(1);
	}
	err = bpf_object__load(S.obj);
	if (err) {
		logmsg("cannot load %s: %s", path, strerror(-err));
		exit(1);
	}
	prog = bpf_object__find_program_by_name(S.obj, "mrt_ingress");
	S.prog_fd = prog ? bpf_program__fd(prog) : -1;
	if (S.prog_fd < 0) {
		logmsg("%s has no program mrt_ingress", path);
		exit(1);
	}
	S.m_mfc = map_fd("mfc");
	S.m_stats = map_fd("mfc_stats");
	S.m_vifs = map_fd("vifs");
	S.m_vifst = map_fd("vif_stats");
	S.m_vifof = map_fd("vif_of");
	S.m_unres = map_fd("unres");
	S.m_conf = map_fd("conf");
	S.m_drops = map_fd("drops");
	S.pb = perf_buffer__new(map_fd("events"), 64, on_sample, on_lost, NULL, NULL);
	if (!S.pb) {
		logmsg("perf buffer: %s", strerror(errno));
		exit(1);
	}
}

static int raw_socket(int proto)
{
	int one = 1, big = 8 << 20;
	int fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, proto);

	if (fd < 0) {
		logmsg("raw socket %d: %s", proto, strerror(errno));
		exit(1);
	}
	setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
	return fd;
}

static int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"socket", required_argument, 0, 's'},
		{"bpf", required_argument, 0, 'b'},
		{"owner", required_argument, 0, 'o'},
		{0, 0, 0, 0},
	};
	const char *bpf_path = NULL;
	int owner = -1, c;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct itimerspec its = {.it_interval = {1, 0}, .it_value = {1, 0}};
	sigset_t mask;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 's')
			S.sock_path = optarg;
		else if (c == 'b')
			bpf_path = optarg;
		else if (c == 'o')
			owner = atoi(optarg);
		else
			return 2;
	}
	if (!S.sock_path || !bpf_path || strlen(S.sock_path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "usage: mrtd --socket PATH --bpf OBJ [--owner UID]\n");
		return 2;
	}
	S.ctl_fd = S.ev_fd = S.tap_fd = -1;
	S.reg_vif = -1;
	for (int i = 0; i < MAX_CLIENTS; i++)
		S.clients[i] = -1;
	libbpf_set_print(libbpf_quiet);
	load_bpf(bpf_path);
	put_conf();

	S.epfd = epoll_create1(EPOLL_CLOEXEC);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	S.sig_fd = signalfd(-1, &mask, SFD_CLOEXEC);
	watch(S.sig_fd, K_SIGNAL);
	S.timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	timerfd_settime(S.timer_fd, 0, &its, NULL);
	watch(S.timer_fd, K_TIMER);
	S.igmp_fd = raw_socket(IPPROTO_IGMP);
	watch(S.igmp_fd, K_IGMP);
	S.pim_fd = raw_socket(IPPROTO_PIM);
	watch(S.pim_fd, K_PIM);
	watch(perf_buffer__epoll_fd(S.pb), K_PERF);

	S.listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	strcpy(sa.sun_path, S.sock_path);
	unlink(S.sock_path);
	if (bind(S.listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(S.listen_fd, 16) < 0) {
		logmsg("cannot listen on %s: %s", S.sock_path, strerror(errno));
		return 1;
	}
	if (owner >= 0 && chown(S.sock_path, owner, -1) < 0)
		logmsg("chown %s: %s", S.sock_path, strerror(errno));
	chmod(S.sock_path, 0600);
	watch(S.listen_fd, K_LISTEN);
	logmsg("ready on %s", S.sock_path);

	for (;;) {
		struct epoll_event evs[16];
		int n = epoll_wait(S.epfd, evs, 16, -1);

		for (int i = 0; i < n; i++) {
			int kind = evs[i].data.u64 >> 32, fd = (int)(evs[i].data.u64 & 0xffffffff);
			uint64_t ticks;

			switch (kind) {
			case K_LISTEN:
				accept_client();
				break;
			case K_CLIENT:
				client_read(fd);
				break;
			case K_PERF:
				perf_buffer__consume(S.pb);
				break;
			case K_IGMP:
				if (S.ev_fd >= 0)
					igmp_read();
				else
					while (recv(fd, &ticks, sizeof(ticks), MSG_DONTWAIT) > 0)
						;
				break;
			case K_PIM:
				pim_read();
				break;
			case K_TAP:
				if (fd == S.tap_fd)
					tap_read();
				break;
			case K_TIMER:
				if (read(fd, &ticks, sizeof(ticks)) > 0)
					unres_expire();
				break;
			case K_SIGNAL:
				if (S.ctl_fd >= 0)
					session_end();
				unlink(S.sock_path);
				logmsg("stopped");
				return 0;
			}
		}
	}
}
