// SPDX-License-Identifier: GPL-2.0
/* What mrtd puts on the mroute socket (ipmr_cache_report's upcall layouts, IGMP packets with
 * their in_pktinfo) and the register device pimreg (reg_vif_xmit: WHOLEPKT; pim_rcv:
 * Registers decapsulated into it); the frames the BPF program punts. */
#define _GNU_SOURCE
#include "mrtd.h"

/* -- the event socket ----------------------------------------------------------------- */
void send_event(uint32_t ifindex, uint32_t spec_dst, uint32_t addr, const void *a,
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
void upcall(int type, unsigned vif, uint32_t ifindex, const unsigned char *ip, size_t len)
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

int tap_create(const char *name)
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
void tap_read(void)
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
void tap_inject(unsigned vif, const unsigned char *ip, size_t len)
{
	unsigned char eth[14] = {0x01, 0x00, 0x5e, ip[17] & 0x7f, ip[18], ip[19],
				 MRT_MARK0, MRT_MARK1, MRT_MARK2, MRT_MARK3, 0, vif, 0x08, 0x00};
	struct iovec iov[2] = {{eth, 14}, {(void *)ip, len}};

	if (S.tap_fd < 0)
		return;
	if (writev(S.tap_fd, iov, 2) < 0)
		logmsg("pimreg inject: %s", strerror(errno));
}


/* -- perf events from the BPF program -------------------------------------------------- */
void on_sample(void *ctx, int cpu, void *data, __u32 size)
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
		if (!u)
			u = unres_new(iph->saddr, iph->daddr, ev->vif);
		if (!u)
			return;
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

void on_lost(void *ctx, int cpu, __u64 n)
{
	(void)ctx;
	logmsg("%llu punted frames lost on cpu %d", (unsigned long long)n, cpu);
}

/* -- IGMP and PIM Register reception ---------------------------------------------------- */
void igmp_read(void)
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
void pim_read(void)
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

