/* mrtd's shared state and the functions its files share (mrtd.c: start-up, requests;
 * table.c: vifs, MFC, unresolved entries; punt.c: upcalls, IGMP, the register device). */
#ifndef MRTD_H
#define MRTD_H

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

struct mrtd_state {
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
};

extern struct mrtd_state S;

/* mrtd.c */
void logmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
uint64_t now_ns(void);
const char *ip4(uint32_t a, char *buf);
void watch(int fd, int kind);

/* table.c: the vif table, the MFC and unresolved entries, kept in the BPF maps */
void put_conf(void);
int vif_add(const struct vifctl *vc);
int vif_del(unsigned vifi);
struct mfc *mfc_find(uint32_t origin, uint32_t group);
int mfc_add(const struct mfcctl *m);
int mfc_del(const struct mfcctl *m);
void flush(int flags);
void session_end(void);
void fill_route(struct mrtp_route *r, const struct mfc *c);
struct unres *unres_find(uint32_t origin, uint32_t group);
struct unres *unres_new(uint32_t origin, uint32_t group, unsigned vif);
void unres_queue(struct unres *u, const unsigned char *ip, size_t len);
void unres_expire(void);

/* punt.c: what reaches the mroute socket, and the register device */
void send_event(uint32_t ifindex, uint32_t spec_dst, uint32_t addr, const void *a, size_t alen,
		const void *b, size_t blen);
void upcall(int type, unsigned vif, uint32_t ifindex, const unsigned char *ip, size_t len);
int tap_create(const char *name);
void tap_read(void);
void tap_inject(unsigned vif, const unsigned char *ip, size_t len);
void on_sample(void *ctx, int cpu, void *data, __u32 size);
void on_lost(void *ctx, int cpu, __u64 n);
void igmp_read(void);
void pim_read(void);

#endif
