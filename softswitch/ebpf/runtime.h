/* runtime.h: helpers of the C that softswitch's eBPF backend generates (softswitch/ebpf/).
 * Pure functions on values and bytes; everything that touches maps is generated per program.
 * Wide values (more than 64 bits) are arrays of u64 words, word 0 least significant, the top
 * word masked with `top`. */
#ifndef SS_RUNTIME_H
#define SS_RUNTIME_H

#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

typedef __u8 u8;
typedef __u16 u16;
typedef __u32 u32;
typedef __u64 u64;
typedef __s32 s32;
typedef __s64 s64;

/* keeps clang from merging code of branches that use different kinds of pointers */
#define ss_barrier() asm volatile("" ::: "memory")

/* sign-extend the low W bits of x */
#define SEXT(x, W) ((s64)((u64)(x) << (64 - (W))) >> (64 - (W)))

static __always_inline s64 ss_clamp(s64 v, s64 lo, s64 hi) { return v < lo ? lo : v > hi ? hi : v; }

static __always_inline u64 ss_sat_add(u64 a, u64 b, u64 mask)
{
    u64 s = a + b;
    return (s < a || s > mask) ? mask : s;
}

static __always_inline void w_zero(u64 *d, int k)
{
#pragma unroll
    for (int i = 0; i < k; i++)
        d[i] = 0;
}

static __always_inline void w_and(u64 *d, const u64 *a, const u64 *b, int k, u64 top)
{
#pragma unroll
    for (int i = 0; i < k; i++)
        d[i] = a[i] & b[i];
}

static __always_inline void w_or(u64 *d, const u64 *a, const u64 *b, int k, u64 top)
{
#pragma unroll
    for (int i = 0; i < k; i++)
        d[i] = a[i] | b[i];
}

static __always_inline void w_xor(u64 *d, const u64 *a, const u64 *b, int k, u64 top)
{
#pragma unroll
    for (int i = 0; i < k; i++)
        d[i] = a[i] ^ b[i];
}

static __always_inline void w_not(u64 *d, const u64 *a, int k, u64 top)
{
#pragma unroll
    for (int i = 0; i < k; i++)
        d[i] = ~a[i];
    d[k - 1] &= top;
}

static __always_inline void w_add(u64 *d, const u64 *a, const u64 *b, int k, u64 top)
{
    u64 carry = 0;
#pragma unroll
    for (int i = 0; i < k; i++) {
        u64 s = a[i] + b[i];
        u64 c1 = s < a[i];
        u64 r = s + carry;
        carry = c1 | (r < s);
        d[i] = r;
    }
    d[k - 1] &= top;
}

static __always_inline void w_sub(u64 *d, const u64 *a, const u64 *b, int k, u64 top)
{
    u64 borrow = 0;
#pragma unroll
    for (int i = 0; i < k; i++) {
        u64 s = a[i] - b[i];
        u64 b1 = a[i] < b[i];
        u64 r = s - borrow;
        borrow = b1 | (s < borrow);
        d[i] = r;
    }
    d[k - 1] &= top;
}

static __always_inline void w_neg(u64 *d, const u64 *a, int k, u64 top)
{
    u64 borrow = 0;
#pragma unroll
    for (int i = 0; i < k; i++) {
        u64 r = 0 - a[i] - borrow;
        borrow = (a[i] | borrow) != 0;
        d[i] = r;
    }
    d[k - 1] &= top;
}

static __always_inline int w_eq(const u64 *a, const u64 *b, int k)
{
    u64 x = 0;
#pragma unroll
    for (int i = 0; i < k; i++)
        x |= a[i] ^ b[i];
    return x == 0;
}

/* -1, 0, 1 as a < b, a == b, a > b (unsigned) */
static __always_inline int w_cmp(const u64 *a, const u64 *b, int k)
{
#pragma unroll
    for (int i = k - 1; i >= 0; i--) {
        if (a[i] < b[i])
            return -1;
        if (a[i] > b[i])
            return 1;
    }
    return 0;
}

/* d = a << s (constant s), within k words */
static __always_inline void w_shl(u64 *d, const u64 *a, int s, int k, u64 top)
{
    int q = s / 64, r = s % 64;
#pragma unroll
    for (int i = k - 1; i >= 0; i--) {
        u64 v = 0;
        if (i - q >= 0) {
            v = a[i - q] << r;
            if (r && i - q - 1 >= 0)
                v |= a[i - q - 1] >> (64 - r);
        }
        d[i] = v;
    }
    d[k - 1] &= top;
}

static __always_inline void w_shr(u64 *d, const u64 *a, int s, int k, u64 top)
{
    int q = s / 64, r = s % 64;
#pragma unroll
    for (int i = 0; i < k; i++) {
        u64 v = 0;
        if (i + q < k) {
            v = a[i + q] >> r;
            if (r && i + q + 1 < k)
                v |= a[i + q + 1] << (64 - r);
        }
        d[i] = v;
    }
}

/* bits [lo, lo + n) of a wide value, n <= 64 (constant lo and n) */
static __always_inline u64 w_get(const u64 *a, int lo, int n)
{
    int q = lo / 64, r = lo % 64;
    u64 v = a[q] >> r;
    if (r && r + n > 64)
        v |= a[q + 1] << (64 - r);
    return n == 64 ? v : v & ((1ULL << n) - 1);
}

/* set bits [lo, lo + n) of d (k words) to v, n <= 64 */
static __always_inline void w_set(u64 *d, int k, int lo, int n, u64 v)
{
    int q = lo / 64, r = lo % 64;
    u64 m = n == 64 ? ~0ULL : ((1ULL << n) - 1);
    v &= m;
    d[q] = (d[q] & ~(m << r)) | (v << r);
    if (r && r + n > 64 && q + 1 < k)
        d[q + 1] = (d[q + 1] & ~(m >> (64 - r))) | (v >> (64 - r));
}

/* set bits [lo, lo + n) of d (k words) from the n-bit wide value s */
static __always_inline void w_deposit_w(u64 *d, int k, int lo, const u64 *s, int n)
{
#pragma unroll
    for (int i = 0; i < (n + 63) / 64; i++) {
        int bits = n - 64 * i > 64 ? 64 : n - 64 * i;
        w_set(d, k, lo + 64 * i, bits, s[i]);
    }
}

/* d (k words) = bits [lo, lo + n) of a */
static __always_inline void w_extract(u64 *d, int k, const u64 *a, int lo, int n)
{
#pragma unroll
    for (int i = 0; i < k; i++) {
        int bits = n - 64 * i > 64 ? 64 : n - 64 * i;
        d[i] = w_get(a, lo + 64 * i, bits);
    }
}

/* d (k words) = a (ka words), cut or zero-extended */
static __always_inline void w_resize(u64 *d, int k, const u64 *a, int ka, u64 top)
{
#pragma unroll
    for (int i = 0; i < k; i++)
        d[i] = i < ka ? a[i] : 0;
    d[k - 1] &= top;
}

/* ---- hashes and checksums over n packed bytes (n constant) */
static __always_inline u64 ss_csum16(const u8 *b, int n)
{
    u64 s = 0;
#pragma unroll
    for (int i = 0; i + 1 < n; i += 2)
        s += ((u64)b[i] << 8) | b[i + 1];
    s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    return (~s) & 0xffff;
}

static __always_inline u64 ss_xor16(const u8 *b, int n)
{
    u64 x = 0;
#pragma unroll
    for (int i = 0; i + 1 < n; i += 2)
        x ^= ((u64)b[i] << 8) | b[i + 1];
    return x;
}

/* the last (up to) 8 bytes as a big-endian number */
static __always_inline u64 ss_be_low64(const u8 *b, int n)
{
    u64 v = 0;
#pragma unroll
    for (int i = n > 8 ? n - 8 : 0; i < n; i++)
        v = (v << 8) | b[i];
    return v;
}

/* the n bytes as a big-endian number, modulo m (m > 0) */
static __always_inline u64 ss_mod_bytes(const u8 *b, int n, u64 m)
{
    u64 r = 0;
    for (int i = 0; i < n; i++) {
        for (int j = 7; j >= 0; j--) {
            u64 bit = (b[i] >> j) & 1;
            u64 top = r >> 63;
            r = (r << 1) | bit;
            if (top || r >= m)
                r -= m;
        }
    }
    return r;
}

#endif /* SS_RUNTIME_H */
