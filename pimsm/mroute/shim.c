// SPDX-License-Identifier: GPL-2.0
/* LD_PRELOAD shim: the kernel's IPv4 multicast routing socket API, answered by mrtd where the
 * kernel has no CONFIG_IP_MROUTE. Active only when MRT_EMU_SOCKET names mrtd's socket.
 *
 * - mroute socket (pimd): setsockopt(IPPROTO_IP, MRT_*) on a raw IGMP socket first goes to
 *   the kernel; only when it answers ENOPROTOOPT (no multicast routing) does MRT_INIT connect
 *   to mrtd, which hands over the event socket that takes the raw socket's place (dup3), so
 *   pimd's event loop polls a real fd. From then on MRT_* set/getsockopt, SIOCGETSGCNT and
 *   SIOCGETVIFCNT go to mrtd; reads return upcalls and IGMP packets as the raw socket would
 *   (the IPv4 bytes, the source in msg_name, IP_PKTINFO when asked for).
 * - rtnetlink (zebra, ip): RTM_GETROUTE for RTNL_FAMILY_IPMR (zebra's per-(S,G) last-use
 *   query, `ip mroute show`) is answered from mrtd with the messages ipmr_fill_mroute builds.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>
#include <linux/mroute.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "proto.h"

#define MAXFD 65536
#define NL_BUF 32768

enum { K_NONE, K_RAWIGMP, K_MROUTE, K_NETLINK };

struct nl_msg {
	struct nl_msg *next;
	size_t len;
	unsigned char data[];
};

struct fdstate {
	uint8_t kind;
	uint8_t pktinfo;
	uint32_t table;
	int ctl;
	struct nl_msg *pending;
};

static struct fdstate *fds;
static const char *sock_path;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static int (*real_socket)(int, int, int);
static int (*real_setsockopt)(int, int, int, const void *, socklen_t);
static int (*real_getsockopt)(int, int, int, void *, socklen_t *);
static int (*real_ioctl)(int, unsigned long, ...);
static ssize_t (*real_recvmsg)(int, struct msghdr *, int);
static ssize_t (*real_recvfrom)(int, void *, size_t, int, struct sockaddr *, socklen_t *);
static ssize_t (*real_recv)(int, void *, size_t, int);
static ssize_t (*real_read)(int, void *, size_t);
static ssize_t (*real_sendmsg)(int, const struct msghdr *, int);
static ssize_t (*real_sendto)(int, const void *, size_t, int, const struct sockaddr *, socklen_t);
static ssize_t (*real_send)(int, const void *, size_t, int);
static int (*real_close)(int);

#define RESOLVE(f) (real_##f = dlsym(RTLD_NEXT, #f))

static pthread_once_t once = PTHREAD_ONCE_INIT;

static void resolve(void)
{
	RESOLVE(socket);
	RESOLVE(setsockopt);
	RESOLVE(getsockopt);
	RESOLVE(ioctl);
	RESOLVE(recvmsg);
	RESOLVE(recvfrom);
	RESOLVE(recv);
	RESOLVE(read);
	RESOLVE(sendmsg);
	RESOLVE(sendto);
	RESOLVE(send);
	RESOLVE(close);
	sock_path = getenv("MRT_EMU_SOCKET");
	if (sock_path && *sock_path)
		fds = calloc(MAXFD, sizeof(*fds));
}

/* before any call: another library's constructor may use sockets before ours ran */
#define ENSURE() pthread_once(&once, resolve)

__attribute__((constructor)) static void init(void)
{
	ENSURE();
}

static struct fdstate *st(int fd)
{
	ENSURE();
	return fds && fd >= 0 && fd < MAXFD ? &fds[fd] : NULL;
}

static int is_mrt(int level, int optname)
{
	return level == IPPROTO_IP && optname >= MRT_BASE && optname <= MRT_MAX;
}

/* -- talking to mrtd ----------------------------------------------------------------------- */
static int daemon_connect(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = real_socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		real_close(fd);
		return -1;
	}
	return fd;
}

static ssize_t recv_all(int fd, void *buf, size_t len)
{
	ssize_t n;

	do
		n = real_recv(fd, buf, len, 0);
	while (n < 0 && errno == EINTR);
	return n;
}

/* one request; returns 0 or -1 with errno (the daemon's errno, or EIO when it is gone) */
static int request(int ctl, uint32_t op, uint32_t optname, const void *data, size_t len,
		   struct mrtp_rep *rep)
{
	struct mrtp_req q = {.op = op, .optname = optname, .len = len};
	ssize_t n;

	if (len > MRTP_DATA_MAX) {
		errno = EINVAL;
		return -1;
	}
	if (data)
		memcpy(q.data, data, len);
	if (send(ctl, &q, offsetof(struct mrtp_req, data) + len, MSG_NOSIGNAL) < 0) {
		errno = EIO;
		return -1;
	}
	n = recv_all(ctl, rep, sizeof(*rep));
	if (n < (ssize_t)offsetof(struct mrtp_rep, data)) {
		errno = EIO;
		return -1;
	}
	if (rep->err) {
		errno = rep->err;
		return -1;
	}
	return 0;
}

/* MRT_INIT: the raw socket becomes the event socket mrtd hands over */
static int mroute_init(int fd, struct fdstate *s)
{
	struct mrtp_req q = {.op = MRTP_OP_INIT, .len = sizeof(uint32_t)};
	struct mrtp_rep rep;
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = {&rep, sizeof(rep)};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			   .msg_controllen = sizeof(cbuf)};
	int ctl = daemon_connect(), evfd = -1, fdflags, flflags;
	ssize_t n;

	if (ctl < 0) { /* no emulation running here: what the kernel said */
		errno = ENOPROTOOPT;
		return -1;
	}
	memcpy(q.data, &s->table, sizeof(uint32_t));
	if (send(ctl, &q, offsetof(struct mrtp_req, data) + q.len, MSG_NOSIGNAL) < 0)
		goto io;
	do
		n = real_recvmsg(ctl, &m, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < (ssize_t)offsetof(struct mrtp_rep, data))
		goto io;
	if (rep.err) {
		real_close(ctl);
		errno = rep.err;
		return -1;
	}
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
			memcpy(&evfd, CMSG_DATA(c), sizeof(int));
	if (evfd < 0)
		goto io;
	fdflags = fcntl(fd, F_GETFD);
	flflags = fcntl(fd, F_GETFL);
	if (dup3(evfd, fd, (fdflags & FD_CLOEXEC) ? O_CLOEXEC : 0) < 0) {
		real_close(evfd);
		goto io;
	}
	real_close(evfd);
	fcntl(fd, F_SETFL, flflags & O_NONBLOCK);
	s->kind = K_MROUTE;
	s->ctl = ctl;
	return 0;
io:
	real_close(ctl);
	errno = EIO;
	return -1;
}

/* -- the mroute socket's calls ------------------------------------------------------------------ */
int setsockopt(int fd, int level, int optname, const void *val, socklen_t len)
{
	struct fdstate *s = st(fd);
	struct mrtp_rep rep;
	int r;

	if (!s)
		return real_setsockopt(fd, level, optname, val, len);
	if (s->kind == K_MROUTE) {
		if (is_mrt(level, optname)) {
			if (optname == MRT_INIT) {
				errno = EADDRINUSE;
				return -1;
			}
			if (optname == MRT_TABLE) {
				errno = EBUSY;
				return -1;
			}
			if (len > MRTP_DATA_MAX) {
				errno = EINVAL;
				return -1;
			}
			pthread_mutex_lock(&lock);
			r = request(s->ctl, MRTP_OP_SETOPT, optname, val, len, &rep);
			if (r == 0 && optname == MRT_DONE) { /* no longer the mroute socket */
				real_close(s->ctl);
				s->kind = K_NONE;
			}
			pthread_mutex_unlock(&lock);
			return r;
		}
		if (level == IPPROTO_IP) { /* options of the raw socket it stands for */
			if (optname == IP_PKTINFO && val && len >= sizeof(int))
				s->pktinfo = *(const int *)val != 0;
			return 0;
		}
		if (level == SOL_SOCKET && optname == SO_BINDTODEVICE)
			return 0;
		return real_setsockopt(fd, level, optname, val, len);
	}
	r = real_setsockopt(fd, level, optname, val, len);
	if (level == IPPROTO_IP && optname == IP_PKTINFO && r == 0 && val && len >= sizeof(int))
		s->pktinfo = *(const int *)val != 0;
	if (!is_mrt(level, optname) || r == 0 || errno != ENOPROTOOPT || s->kind != K_RAWIGMP)
		return r;
	/* the kernel has no multicast routing: emulate it */
	if (optname == MRT_TABLE) {
		if (!val || len < sizeof(uint32_t)) {
			errno = EINVAL;
			return -1;
		}
		memcpy(&s->table, val, sizeof(uint32_t));
		return 0;
	}
	if (optname != MRT_INIT) {
		errno = ENOPROTOOPT;
		return -1;
	}
	if (len != sizeof(int)) {
		errno = EINVAL;
		return -1;
	}
	pthread_mutex_lock(&lock);
	r = mroute_init(fd, s);
	pthread_mutex_unlock(&lock);
	return r;
}

int getsockopt(int fd, int level, int optname, void *val, socklen_t *len)
{
	struct fdstate *s = st(fd);
	struct mrtp_rep rep;
	int r, v;
	socklen_t n;

	if (!s || s->kind != K_MROUTE || !is_mrt(level, optname))
		return real_getsockopt(fd, level, optname, val, len);
	if (optname != MRT_VERSION && optname != MRT_PIM && optname != MRT_ASSERT) {
		errno = ENOPROTOOPT;
		return -1;
	}
	pthread_mutex_lock(&lock);
	r = request(s->ctl, MRTP_OP_GETOPT, optname, NULL, 0, &rep);
	pthread_mutex_unlock(&lock);
	if (r)
		return r;
	memcpy(&v, rep.data, sizeof(v));
	n = *len < sizeof(int) ? *len : sizeof(int);
	memcpy(val, &v, n);
	*len = n;
	return 0;
}

int ioctl(int fd, unsigned long req, ...)
{
	struct fdstate *s = st(fd);
	struct mrtp_rep rep;
	va_list ap;
	void *arg;
	size_t size;
	int r;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (!s || s->kind != K_MROUTE || (req != SIOCGETSGCNT && req != SIOCGETVIFCNT))
		return real_ioctl(fd, req, arg);
	size = req == SIOCGETSGCNT ? sizeof(struct sioc_sg_req) : sizeof(struct sioc_vif_req);
	pthread_mutex_lock(&lock);
	r = request(s->ctl, req == SIOCGETSGCNT ? MRTP_OP_SGCNT : MRTP_OP_VIFCNT, 0, arg, size,
		    &rep);
	pthread_mutex_unlock(&lock);
	if (r == 0)
		memcpy(arg, rep.data, size);
	return r;
}

/* an event as the raw socket would return it */
static ssize_t mroute_recv(int fd, struct fdstate *s, struct msghdr *msg, int flags)
{
	static __thread unsigned char buf[sizeof(struct mrtp_evhdr) + 65536];
	struct mrtp_evhdr h;
	size_t plen, copied = 0;
	ssize_t n = real_recv(fd, buf, sizeof(buf), flags & (MSG_PEEK | MSG_DONTWAIT));
	unsigned char *p = buf + sizeof(h);

	if (n <= 0)
		return n;
	if ((size_t)n < sizeof(h) + 20) {
		errno = EAGAIN;
		return -1;
	}
	memcpy(&h, buf, sizeof(h));
	plen = n - sizeof(h);
	for (size_t i = 0; i < msg->msg_iovlen && copied < plen; i++) {
		size_t k = msg->msg_iov[i].iov_len;

		if (k > plen - copied)
			k = plen - copied;
		memcpy(msg->msg_iov[i].iov_base, p + copied, k);
		copied += k;
	}
	msg->msg_flags = copied < plen ? MSG_TRUNC : 0;
	if (msg->msg_name && msg->msg_namelen >= sizeof(struct sockaddr_in)) {
		struct sockaddr_in sin = {.sin_family = AF_INET};

		memcpy(&sin.sin_addr, p + 12, 4);
		memcpy(msg->msg_name, &sin, sizeof(sin));
		msg->msg_namelen = sizeof(sin);
	}
	if (s->pktinfo && msg->msg_control &&
	    msg->msg_controllen >= CMSG_SPACE(sizeof(struct in_pktinfo))) {
		struct cmsghdr *c = msg->msg_control;
		struct in_pktinfo pi = {.ipi_ifindex = h.ifindex};

		pi.ipi_spec_dst.s_addr = h.spec_dst;
		pi.ipi_addr.s_addr = h.addr;
		memset(c, 0, CMSG_SPACE(sizeof(pi)));
		c->cmsg_level = IPPROTO_IP;
		c->cmsg_type = IP_PKTINFO;
		c->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(c), &pi, sizeof(pi));
		msg->msg_controllen = CMSG_SPACE(sizeof(pi));
	} else {
		msg->msg_controllen = 0;
	}
	return (flags & MSG_TRUNC) ? (ssize_t)plen : (ssize_t)copied;
}

/* -- rtnetlink: RTM_GETROUTE for RTNL_FAMILY_IPMR ---------------------------------------------- */
struct nlbuf {
	unsigned char *p;
	size_t len, cap;
};

static void *nl_put(struct nlbuf *b, size_t len)
{
	size_t need = b->len + NLMSG_ALIGN(len);
	void *at;

	if (need > b->cap) {
		unsigned char *n = realloc(b->p, need * 2);

		if (!n)
			return NULL;
		b->p = n;
		b->cap = need * 2;
	}
	at = b->p + b->len;
	memset(at, 0, NLMSG_ALIGN(len));
	b->len = need;
	return at;
}

static void nl_attr(struct nlbuf *b, uint16_t type, const void *data, size_t len)
{
	struct rtattr *a = nl_put(b, RTA_LENGTH(len));

	if (!a)
		return;
	a->rta_type = type;
	a->rta_len = RTA_LENGTH(len);
	memcpy(RTA_DATA(a), data, len);
}

/* ipmr_fill_mroute + mr_fill_mroute */
static void nl_route(struct nlbuf *b, const struct mrtp_route *r, uint32_t seq, uint32_t pid,
		     uint16_t flags)
{
	size_t start = b->len;
	struct nlmsghdr *h = nl_put(b, NLMSG_LENGTH(sizeof(struct rtmsg)));
	struct rtmsg *rtm;

	if (!h)
		return;
	h->nlmsg_type = RTM_NEWROUTE;
	h->nlmsg_flags = flags;
	h->nlmsg_seq = seq;
	h->nlmsg_pid = pid;
	rtm = NLMSG_DATA(h);
	rtm->rtm_family = RTNL_FAMILY_IPMR;
	rtm->rtm_dst_len = 32;
	rtm->rtm_src_len = 32;
	rtm->rtm_table = r->table < 256 ? r->table : RT_TABLE_COMPAT;
	rtm->rtm_protocol = RTPROT_MROUTED;
	rtm->rtm_scope = RT_SCOPE_UNIVERSE;
	rtm->rtm_type = RTN_MULTICAST;
	rtm->rtm_flags = r->unresolved ? RTNH_F_UNRESOLVED : 0;
	nl_attr(b, RTA_TABLE, &r->table, 4);
	nl_attr(b, RTA_SRC, &r->origin, 4);
	nl_attr(b, RTA_DST, &r->group, 4);
	if (!r->unresolved) {
		struct rta_mfc_stats mfcs = {r->pkt, r->bytes, r->wrong_if};
		struct rtnexthop nh[MRTP_MAXVIFS] = {0};

		if (r->iif)
			nl_attr(b, RTA_IIF, &r->iif, 4);
		for (uint32_t i = 0; i < r->noifs && i < MRTP_MAXVIFS; i++) {
			nh[i].rtnh_len = sizeof(nh[i]);
			nh[i].rtnh_hops = r->ttl[i];
			nh[i].rtnh_ifindex = r->oif[i];
		}
		nl_attr(b, RTA_MULTIPATH, nh, r->noifs * sizeof(nh[0]));
		nl_attr(b, RTA_MFC_STATS, &mfcs, sizeof(mfcs));
		nl_attr(b, RTA_EXPIRES, &r->lastuse_cs, 8);
	}
	h = (struct nlmsghdr *)(b->p + start);
	h->nlmsg_len = b->len - start;
}

static void nl_error(struct nlbuf *b, int err, const struct nlmsghdr *req, uint32_t pid)
{
	struct nlmsghdr *h = nl_put(b, NLMSG_LENGTH(sizeof(struct nlmsgerr)));
	struct nlmsgerr *e;

	if (!h)
		return;
	h->nlmsg_len = NLMSG_LENGTH(sizeof(struct nlmsgerr));
	h->nlmsg_type = NLMSG_ERROR;
	h->nlmsg_flags = err ? 0 : NLM_F_CAPPED;
	h->nlmsg_seq = req->nlmsg_seq;
	h->nlmsg_pid = pid;
	e = NLMSG_DATA(h);
	e->error = -err;
	e->msg = *req;
	e->msg.nlmsg_len = sizeof(*req);
}

static void nl_queue(struct fdstate *s, struct nlbuf *b)
{
	struct nl_msg *m = malloc(sizeof(*m) + b->len), **tail = &s->pending;

	if (!m)
		return;
	m->next = NULL;
	m->len = b->len;
	memcpy(m->data, b->p, b->len);
	while (*tail)
		tail = &(*tail)->next;
	*tail = m;
	b->len = 0;
}

static uint32_t attr_u32(const struct nlmsghdr *h, uint16_t type)
{
	const struct rtattr *a = (const void *)((const char *)NLMSG_DATA(h) +
					       NLMSG_ALIGN(sizeof(struct rtmsg)));
	int len = h->nlmsg_len - NLMSG_LENGTH(NLMSG_ALIGN(sizeof(struct rtmsg)));
	uint32_t v = 0;

	for (; RTA_OK(a, len); a = RTA_NEXT(a, len))
		if (a->rta_type == type && RTA_PAYLOAD(a) >= 4)
			memcpy(&v, RTA_DATA(a), 4);
	return v;
}

/* 1: answered (queued for the next recv); 0: not ours, send it to the kernel */
static int nl_ipmr(int fd, struct fdstate *s, const void *buf, size_t len)
{
	const struct nlmsghdr *h = buf;
	struct sockaddr_nl me = {0};
	socklen_t mlen = sizeof(me);
	struct nlbuf b = {0};
	struct mrtp_rep rep;
	uint32_t pid;
	int ctl;

	if (len < NLMSG_LENGTH(sizeof(struct rtmsg)) || h->nlmsg_len > len ||
	    h->nlmsg_len < NLMSG_LENGTH(sizeof(struct rtmsg)) || h->nlmsg_type != RTM_GETROUTE ||
	    ((const struct rtmsg *)NLMSG_DATA(h))->rtm_family != RTNL_FAMILY_IPMR)
		return 0;
	if (len >= NLMSG_ALIGN(h->nlmsg_len) + NLMSG_HDRLEN) { /* a second message: the kernel's */
		const struct nlmsghdr *next = (const void *)((const char *)buf +
							      NLMSG_ALIGN(h->nlmsg_len));

		if (next->nlmsg_len >= NLMSG_HDRLEN)
			return 0;
	}
	ctl = daemon_connect();
	if (ctl < 0)
		return 0;
	getsockname(fd, (struct sockaddr *)&me, &mlen);
	pid = me.nl_pid;
	if (h->nlmsg_flags & NLM_F_DUMP) {
		struct mrtp_req q = {.op = MRTP_OP_DUMP};

		send(ctl, &q, offsetof(struct mrtp_req, data), MSG_NOSIGNAL);
		for (;;) {
			ssize_t n = recv_all(ctl, &rep, sizeof(rep));

			if (n < (ssize_t)offsetof(struct mrtp_rep, data) || !rep.more)
				break;
			nl_route(&b, (const struct mrtp_route *)rep.data, h->nlmsg_seq, pid,
				 NLM_F_MULTI);
			if (b.len > NL_BUF)
				nl_queue(s, &b);
		}
		{
			struct nlmsghdr *d = nl_put(&b, NLMSG_LENGTH(sizeof(int)));

			if (d) {
				d->nlmsg_len = NLMSG_LENGTH(sizeof(int));
				d->nlmsg_type = NLMSG_DONE;
				d->nlmsg_flags = NLM_F_MULTI;
				d->nlmsg_seq = h->nlmsg_seq;
				d->nlmsg_pid = pid;
			}
		}
	} else {
		uint32_t sg[2] = {attr_u32(h, RTA_SRC), attr_u32(h, RTA_DST)};

		if (request(ctl, MRTP_OP_GETSG, 0, sg, sizeof(sg), &rep) == 0) {
			nl_route(&b, (const struct mrtp_route *)rep.data, h->nlmsg_seq, pid, 0);
			if (h->nlmsg_flags & NLM_F_ACK)
				nl_error(&b, 0, h, pid);
		} else {
			nl_error(&b, errno == EIO ? EAFNOSUPPORT : errno, h, pid);
		}
	}
	real_close(ctl);
	nl_queue(s, &b);
	free(b.p);
	return 1;
}

static ssize_t nl_recv(struct fdstate *s, struct msghdr *msg, int flags)
{
	struct nl_msg *m = s->pending;
	size_t copied = 0;

	for (size_t i = 0; i < msg->msg_iovlen && copied < m->len; i++) {
		size_t k = msg->msg_iov[i].iov_len;

		if (k > m->len - copied)
			k = m->len - copied;
		memcpy(msg->msg_iov[i].iov_base, m->data + copied, k);
		copied += k;
	}
	msg->msg_flags = copied < m->len ? MSG_TRUNC : 0;
	if (msg->msg_name && msg->msg_namelen >= sizeof(struct sockaddr_nl)) {
		struct sockaddr_nl k = {.nl_family = AF_NETLINK};

		memcpy(msg->msg_name, &k, sizeof(k));
		msg->msg_namelen = sizeof(k);
	}
	msg->msg_controllen = 0;
	if (!(flags & MSG_PEEK)) {
		size_t full = m->len;

		s->pending = m->next;
		free(m);
		return (flags & MSG_TRUNC) ? (ssize_t)full : (ssize_t)copied;
	}
	return (flags & MSG_TRUNC) ? (ssize_t)m->len : (ssize_t)copied;
}

/* -- reads, writes, close --------------------------------------------------------------------- */
ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
	struct fdstate *s = st(fd);
	ssize_t r;

	if (s && s->kind == K_MROUTE)
		return mroute_recv(fd, s, msg, flags);
	if (s && s->kind == K_NETLINK) {
		pthread_mutex_lock(&lock);
		if (s->pending) {
			r = nl_recv(s, msg, flags);
			pthread_mutex_unlock(&lock);
			return r;
		}
		pthread_mutex_unlock(&lock);
	}
	return real_recvmsg(fd, msg, flags);
}

ssize_t recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *from, socklen_t *flen)
{
	struct fdstate *s = st(fd);
	struct iovec iov = {buf, len};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_name = from,
			   .msg_namelen = flen ? *flen : 0};
	ssize_t r;

	if (!s || (s->kind != K_MROUTE && !(s->kind == K_NETLINK && s->pending)))
		return real_recvfrom(fd, buf, len, flags, from, flen);
	if (!from)
		m.msg_namelen = 0;
	r = recvmsg(fd, &m, flags);
	if (r >= 0 && flen && from)
		*flen = m.msg_namelen;
	return r;
}

ssize_t recv(int fd, void *buf, size_t len, int flags)
{
	ENSURE();
	return recvfrom(fd, buf, len, flags, NULL, NULL);
}

ssize_t read(int fd, void *buf, size_t len)
{
	struct fdstate *s = st(fd);

	if (s && (s->kind == K_MROUTE || (s->kind == K_NETLINK && s->pending)))
		return recvfrom(fd, buf, len, 0, NULL, NULL);
	return real_read(fd, buf, len);
}

static int nl_intercept(int fd, const void *buf, size_t len)
{
	struct fdstate *s = st(fd);
	int r;

	if (!s || s->kind != K_NETLINK)
		return 0;
	pthread_mutex_lock(&lock);
	r = nl_ipmr(fd, s, buf, len);
	pthread_mutex_unlock(&lock);
	return r;
}

ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
	struct fdstate *s = st(fd);

	if (s && s->kind == K_NETLINK && msg->msg_iovlen >= 1) {
		size_t total = 0;
		unsigned char *flat;
		int r;

		for (size_t i = 0; i < msg->msg_iovlen; i++)
			total += msg->msg_iov[i].iov_len;
		flat = malloc(total ? total : 1);
		if (flat) {
			size_t off = 0;

			for (size_t i = 0; i < msg->msg_iovlen; i++) {
				memcpy(flat + off, msg->msg_iov[i].iov_base, msg->msg_iov[i].iov_len);
				off += msg->msg_iov[i].iov_len;
			}
			r = nl_intercept(fd, flat, total);
			free(flat);
			if (r)
				return total;
		}
	}
	return real_sendmsg(fd, msg, flags);
}

ssize_t sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *to,
	       socklen_t tolen)
{
	ENSURE();
	if (nl_intercept(fd, buf, len))
		return len;
	return real_sendto(fd, buf, len, flags, to, tolen);
}

ssize_t send(int fd, const void *buf, size_t len, int flags)
{
	ENSURE();
	if (nl_intercept(fd, buf, len))
		return len;
	return real_send(fd, buf, len, flags);
}

int socket(int domain, int type, int proto)
{
	ENSURE();
	int fd = real_socket(domain, type, proto);
	struct fdstate *s = st(fd);

	if (s) {
		memset(s, 0, sizeof(*s));
		if (domain == AF_INET && (type & 0xf) == SOCK_RAW && proto == IPPROTO_IGMP)
			s->kind = K_RAWIGMP;
		else if (domain == AF_NETLINK && proto == NETLINK_ROUTE)
			s->kind = K_NETLINK;
	}
	return fd;
}

int close(int fd)
{
	struct fdstate *s = st(fd);

	if (s && s->kind != K_NONE) {
		pthread_mutex_lock(&lock);
		if (s->kind == K_MROUTE)
			real_close(s->ctl); /* mrtd ends the session: mrtsock_destruct */
		while (s->pending) {
			struct nl_msg *m = s->pending;

			s->pending = m->next;
			free(m);
		}
		memset(s, 0, sizeof(*s));
		pthread_mutex_unlock(&lock);
	}
	return real_close(fd);
}
