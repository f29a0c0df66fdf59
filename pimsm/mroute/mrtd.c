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
#include "mrtd.h"

struct mrtd_state S;

void logmsg(const char *fmt, ...)
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

uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

const char *ip4(uint32_t a, char *buf)
{
	unsigned char *b = (unsigned char *)&a;

	sprintf(buf, "%u.%u.%u.%u", b[0], b[1], b[2], b[3]);
	return buf;
}

void watch(int fd, int kind)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = ((uint64_t)kind << 32) | (uint32_t)fd};

	if (epoll_ctl(S.epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		logmsg("epoll_ctl(%d): %s", fd, strerror(errno));
		exit(1);
	}
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
