/* bench_tapnull — the fastest "server" a TAP device allows: a program that
 * answers a kernel client's connect() and close() with no TCP at all, to
 * measure the ceiling of the one-after-another connection rate that any
 * userspace stack on this TAP, this client and this machine can reach.
 *
 *   bench_tapnull [--dev tap0] [--ip 10.0.0.2] [--mac 02:00:00:00:00:02]
 *                 [--cpu N] [--max-time S] [--rr SERVER_IP PORT [--time S]]
 *
 * It busy-reads the device (never sleeps), answers ARP requests for its
 * address, a SYN with a SYN,ACK (MSS option only), a small data segment
 * (up to ECHO_MAX bytes) with the same bytes back, and a FIN with a FIN,ACK,
 * each made from the segment itself, ignores everything else, and prints
 *   result null_synacks=N  result null_finacks=N  result null_echoes=N
 * at the end (SIGTERM, SIGINT or --max-time).
 *
 * With --rr SERVER_IP PORT [--time S] it is instead the client side of the
 * 64-byte request/response of bench_rr: it resolves the server (ARP),
 * connects, then sends each request as one prebuilt segment and waits for
 * the 64 bytes back in a blocking read (two system calls per round trip,
 * no timers, no retransmission: a lost frame ends the run at --max-time),
 * and prints rr_count, rr_median_us and rr_p99_us: the floor of the RTT a
 * userspace client over TAP can have on this machine.
 *
 * It keeps no state: the
 * ISN is the same for every connection, which is harmless to a client that
 * only connects and closes. For measurement inside a private namespace only
 * (tools/tapnet), like every bench program.
 */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "common/bench_net.h"
#include "core/checksum.h"
#include "core/wire.h"

#define ETH_HDR 14
#define IP_HDR 20
#define NULL_ISN 0x10000000u
/* Data segments up to this size are echoed (the 1-byte echo workload). */
#define ECHO_MAX 64u

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

/* ARP request for our address -> reply (RFC 826). */
static size_t arp_reply(const uint8_t *in, size_t n, uint8_t *out, const uint8_t mac[6], uint32_t ip)
{
    if (n < ETH_HDR + 28 || in[ETH_HDR + 7] != 1 || get_be32(in + ETH_HDR + 24) != ip)
        return 0;
    memcpy(out, in + 6, 6);
    memcpy(out + 6, mac, 6);
    out[12] = 0x08; out[13] = 0x06;
    memcpy(out + ETH_HDR, in + ETH_HDR, 6);          /* htype, ptype, hlen, plen */
    put_be16(out + ETH_HDR + 6, 2);                     /* reply */
    memcpy(out + ETH_HDR + 8, mac, 6);
    put_be32(out + ETH_HDR + 14, ip);
    memcpy(out + ETH_HDR + 18, in + ETH_HDR + 8, 10);   /* sender -> target */
    return ETH_HDR + 28;
}

/* One IPv4/TCP frame (no IP options; MSS as the only TCP option when
 * asked), checksums filled in. */
struct seg_spec {
    const uint8_t *dst_mac, *src_mac;
    uint32_t src_ip, dst_ip;
    uint16_t sport, dport;
    uint32_t seq, ack;
    uint8_t flags;
    bool mss;
    const uint8_t *payload;
    size_t plen;
};

static size_t build_segment(uint8_t *out, const struct seg_spec *sp)
{
    memcpy(out, sp->dst_mac, 6);
    memcpy(out + 6, sp->src_mac, 6);
    out[12] = 0x08; out[13] = 0x00;
    uint8_t *h = out + ETH_HDR;
    size_t tlen = sp->mss ? 24 : 20;
    memset(h, 0, IP_HDR);
    h[0] = 0x45;
    put_be16(h + 2, (uint16_t)(IP_HDR + tlen + sp->plen));
    h[8] = 64;
    h[9] = 6;
    put_be32(h + 12, sp->src_ip);
    put_be32(h + 16, sp->dst_ip);
    put_be16(h + 10, csum_compute(h, IP_HDR));
    uint8_t *r = h + IP_HDR;
    memset(r, 0, tlen);
    put_be16(r, sp->sport);
    put_be16(r + 2, sp->dport);
    put_be32(r + 4, sp->seq);
    put_be32(r + 8, sp->ack);
    r[12] = (uint8_t)((tlen / 4) << 4);
    r[13] = sp->flags;
    put_be16(r + 14, 65535);
    if (sp->mss) {
        r[20] = 2; r[21] = 4;
        put_be16(r + 22, 1460);
    }
    if (sp->plen)
        memcpy(r + tlen, sp->payload, sp->plen);
    uint32_t acc = csum_pseudo_ipv4(sp->src_ip, sp->dst_ip, 6, (uint16_t)(tlen + sp->plen));
    put_be16(r + 16, csum_fold(csum_partial(r, tlen + sp->plen, acc)));
    return ETH_HDR + IP_HDR + tlen + sp->plen;
}

/* A SYN -> SYN,ACK; a FIN -> FIN,ACK; 0 for anything else. */
static size_t tcp_reply(const uint8_t *in, size_t n, uint8_t *out, uint32_t ip, int *kind)
{
    if (n < ETH_HDR + IP_HDR + 20 || in[ETH_HDR] != 0x45 || in[ETH_HDR + 9] != 6 ||
        get_be32(in + ETH_HDR + 16) != ip)
        return 0;
    const uint8_t *t = in + ETH_HDR + IP_HDR;
    uint16_t ip_len = (uint16_t)(in[ETH_HDR + 2] << 8 | in[ETH_HDR + 3]);
    size_t thl = (size_t)(t[12] >> 4) * 4;
    if (ip_len < IP_HDR + thl || ETH_HDR + (size_t)ip_len > n)
        return 0;
    uint32_t seglen = ip_len - IP_HDR - (uint32_t)thl;
    uint8_t flags = t[13];
    uint32_t seq = get_be32(t + 4), ack;
    uint8_t rflags;
    size_t opt = 0, plen = 0;
    const uint8_t *payload = NULL;
    if ((flags & 0x17) == 0x02) {                    /* SYN alone */
        rflags = 0x12;
        seq = NULL_ISN;
        ack = get_be32(t + 4) + 1;
        opt = 4;
        *kind = 0;
    } else if ((flags & 0x05) == 0x01 && (flags & 0x10)) {   /* FIN with ACK, no RST */
        rflags = 0x11;
        seq = get_be32(t + 8);
        ack = get_be32(t + 4) + seglen + 1;
        *kind = 1;
    } else if ((flags & 0x07) == 0 && (flags & 0x10) && seglen > 0 && seglen <= ECHO_MAX) {
        rflags = 0x18;                               /* data: echo it, PSH,ACK */
        seq = get_be32(t + 8);
        ack = get_be32(t + 4) + seglen;
        payload = t + thl;
        plen = seglen;
        *kind = 2;
    } else {
        return 0;
    }
    struct seg_spec sp = {
        .dst_mac = in + 6, .src_mac = in,
        .src_ip = get_be32(in + ETH_HDR + 16), .dst_ip = get_be32(in + ETH_HDR + 12),
        .sport = (uint16_t)(t[2] << 8 | t[3]), .dport = (uint16_t)(t[0] << 8 | t[1]),
        .seq = seq, .ack = ack, .flags = rflags, .mss = opt != 0, .payload = payload, .plen = plen,
    };
    return build_segment(out, &sp);
}

/* ---- --rr: the client side of the 64-byte round trip, with no stack ---- */

#define RR_SPORT 40123
#define RR_ISN 0x20000000u
#define RR_MAX_SAMPLES 4000000u

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Read frames until one is a TCP segment from srv_ip:srv_port to us (its
 * flags in *flags, seq, payload length returned), answering ARP requests
 * for our address on the way; -1 when stopped or on a read error. */
static long rr_next_segment(int fd, const uint8_t mac[6], uint32_t ip, uint32_t srv_ip, uint16_t srv_port,
                            uint8_t *flags, uint32_t *seq)
{
    uint8_t in[2048], out[64];
    while (!stop) {
        ssize_t n = read(fd, in, sizeof in);
        if (n < ETH_HDR)
            continue;               /* EINTR (stop is checked) or a runt */
        if (in[12] == 0x08 && in[13] == 0x06) {
            size_t m = arp_reply(in, (size_t)n, out, mac, ip);
            if (m && write(fd, out, m) != (ssize_t)m)
                return -1;
            continue;
        }
        if (in[12] != 0x08 || in[13] != 0x00 || (size_t)n < ETH_HDR + IP_HDR + 20 || in[ETH_HDR] != 0x45 ||
            in[ETH_HDR + 9] != 6 || get_be32(in + ETH_HDR + 12) != srv_ip || get_be32(in + ETH_HDR + 16) != ip)
            continue;
        const uint8_t *t = in + ETH_HDR + IP_HDR;
        if ((uint16_t)(t[0] << 8 | t[1]) != srv_port || (uint16_t)(t[2] << 8 | t[3]) != RR_SPORT)
            continue;
        uint16_t ip_len = (uint16_t)(in[ETH_HDR + 2] << 8 | in[ETH_HDR + 3]);
        size_t thl = (size_t)(t[12] >> 4) * 4;
        if (ip_len < IP_HDR + thl)
            continue;
        *flags = t[13];
        *seq = get_be32(t + 4);
        return (long)(ip_len - IP_HDR - thl);
    }
    return -1;
}

/* Resolve srv_ip (ARP request, RFC 826), connect, then send 64-byte
 * requests one at a time for secs seconds, timing each until its 64 bytes
 * are back; prints rr_median_us and rr_p99_us as bench_rr does. */
static int rr_client(int fd, const uint8_t mac[6], uint32_t ip, uint32_t srv_ip, uint16_t srv_port, double secs)
{
    static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    uint8_t out[256], in[2048], srv_mac[6];
    /* ARP request: who has srv_ip. Sent again every 100 ms until answered:
     * a TAP that just got its reader may take a moment to carry frames
     * (the kernel drops what it sends while the carrier is down). */
    memcpy(out, bcast, 6);
    memcpy(out + 6, mac, 6);
    out[12] = 0x08; out[13] = 0x06;
    put_be16(out + ETH_HDR, 1); put_be16(out + ETH_HDR + 2, 0x0800);
    out[ETH_HDR + 4] = 6; out[ETH_HDR + 5] = 4;
    put_be16(out + ETH_HDR + 6, 1);
    memcpy(out + ETH_HDR + 8, mac, 6);
    put_be32(out + ETH_HDR + 14, ip);
    memset(out + ETH_HDR + 18, 0, 6);
    put_be32(out + ETH_HDR + 24, srv_ip);
    bool resolved = false;
    while (!resolved) {
        if (stop) {
            fprintf(stderr, "bench_tapnull: no ARP reply from the server\n");
            return 1;
        }
        if (write(fd, out, ETH_HDR + 28) != ETH_HDR + 28)
            return 1;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        while (!resolved && poll(&pfd, 1, 100) == 1) {
            ssize_t n = read(fd, in, sizeof in);
            if (n >= ETH_HDR + 28 && in[12] == 0x08 && in[13] == 0x06 && in[ETH_HDR + 7] == 2 &&
                get_be32(in + ETH_HDR + 14) == srv_ip) {
                memcpy(srv_mac, in + ETH_HDR + 8, 6);
                resolved = true;
            }
        }
    }
    struct seg_spec sp = {
        .dst_mac = srv_mac, .src_mac = mac, .src_ip = ip, .dst_ip = srv_ip,
        .sport = RR_SPORT, .dport = srv_port, .seq = RR_ISN, .ack = 0, .flags = 0x02, .mss = true,
    };
    size_t m = build_segment(out, &sp);
    if (write(fd, out, m) != (ssize_t)m)
        return 1;
    uint8_t flags;
    uint32_t seq;
    long len;
    do {
        len = rr_next_segment(fd, mac, ip, srv_ip, srv_port, &flags, &seq);
        if (len < 0 || (flags & 0x04)) {
            fprintf(stderr, "bench_tapnull: %s\n", len < 0 ? "no SYN,ACK from the server" : "connection refused");
            return 1;
        }
    } while ((flags & 0x12) != 0x12);
    uint32_t snd = RR_ISN + 1, rcv = seq + 1;
    uint8_t req[64];
    memset(req, 'r', sizeof req);
    double *samples = malloc(RR_MAX_SAMPLES * sizeof *samples);
    if (!samples)
        return 1;
    size_t count = 0;
    double end = (double)bench_now_ns() / 1e3 + secs * 1e6;
    int rc = 0;
    while (!stop && count < RR_MAX_SAMPLES && (double)bench_now_ns() / 1e3 < end) {
        sp = (struct seg_spec){
            .dst_mac = srv_mac, .src_mac = mac, .src_ip = ip, .dst_ip = srv_ip,
            .sport = RR_SPORT, .dport = srv_port, .seq = snd, .ack = rcv, .flags = 0x18,
            .payload = req, .plen = sizeof req,
        };
        m = build_segment(out, &sp);
        double t0 = (double)bench_now_ns() / 1e3;
        if (write(fd, out, m) != (ssize_t)m) {
            rc = 1;
            break;
        }
        snd += sizeof req;
        uint32_t got = 0;
        while (got < sizeof req) {
            len = rr_next_segment(fd, mac, ip, srv_ip, srv_port, &flags, &seq);
            if (len < 0 || (flags & 0x04)) {
                fprintf(stderr, "bench_tapnull: %s after %zu round trips\n",
                        len < 0 ? "no answer" : "reset by the server", count);
                rc = 1;
                break;
            }
            if (len > 0 && seq == rcv) {            /* in order: take it */
                rcv += (uint32_t)len;
                got += (uint32_t)len;
            }
        }
        if (rc)
            break;
        samples[count++] = (double)bench_now_ns() / 1e3 - t0;
    }
    /* Leave with a reset: the server closes its end. */
    sp = (struct seg_spec){
        .dst_mac = srv_mac, .src_mac = mac, .src_ip = ip, .dst_ip = srv_ip,
        .sport = RR_SPORT, .dport = srv_port, .seq = snd, .ack = rcv, .flags = 0x14,
    };
    m = build_segment(out, &sp);
    if (write(fd, out, m) != (ssize_t)m)
        rc = 1;
    if (count > 0) {
        qsort(samples, count, sizeof *samples, cmp_double);
        printf("result rr_count=%zu\nresult rr_median_us=%.2f\nresult rr_p99_us=%.2f\n", count,
               samples[count / 2], samples[(size_t)((double)(count - 1) * 0.99)]);
    }
    free(samples);
    return count > 0 ? rc : 1;
}

static int parse_mac(const char *s, uint8_t mac[6])
{
    unsigned v[6];
    if (sscanf(s, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6)
        return -1;
    for (int i = 0; i < 6; i++)
        mac[i] = (uint8_t)v[i];
    return 0;
}

int main(int argc, char **argv)
{
    const char *dev = "tap0", *ipstr = "10.0.0.2", *macstr = "02:00:00:00:00:02";
    int cpu = -1;
    double max_time = 60, rr_time = 2;
    const char *rr_server = NULL;
    unsigned long rr_port = 5002;
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && !strcmp(argv[i], "--dev"))
            dev = argv[++i];
        else if (i + 1 < argc && !strcmp(argv[i], "--ip"))
            ipstr = argv[++i];
        else if (i + 1 < argc && !strcmp(argv[i], "--mac"))
            macstr = argv[++i];
        else if (i + 1 < argc && !strcmp(argv[i], "--cpu"))
            cpu = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--max-time"))
            max_time = atof(argv[++i]);
        else if (i + 2 < argc && !strcmp(argv[i], "--rr")) {
            rr_server = argv[++i];
            rr_port = strtoul(argv[++i], NULL, 10);
        } else if (i + 1 < argc && !strcmp(argv[i], "--time"))
            rr_time = atof(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--dev D] [--ip A] [--mac M] [--cpu N] [--max-time S]\n"
                            "          [--rr SERVER_IP PORT [--time S]]\n", argv[0]);
            return 2;
        }
    }
    struct in_addr a;
    uint8_t mac[6];
    if (inet_pton(AF_INET, ipstr, &a) != 1 || parse_mac(macstr, mac) < 0 || max_time <= 0) {
        fprintf(stderr, "%s: bad --ip, --mac or --max-time\n", argv[0]);
        return 2;
    }
    uint32_t ip = ntohl(a.s_addr);
    struct in_addr sa;
    if (rr_server && (inet_pton(AF_INET, rr_server, &sa) != 1 || rr_port == 0 || rr_port > 65535 || rr_time <= 0)) {
        fprintf(stderr, "%s: bad --rr or --time\n", argv[0]);
        return 2;
    }
    if (cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        if (sched_setaffinity(0, sizeof set, &set) < 0)
            perror("sched_setaffinity");
    }
    int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", dev);
    if (fd < 0 || ioctl(fd, TUNSETIFF, &ifr) < 0) {
        fprintf(stderr, "%s: %s: %s\n", argv[0], dev, strerror(errno));
        return 1;
    }
    /* Without SA_RESTART: a blocking read (--rr) returns at the watchdog. */
    struct sigaction act = {.sa_handler = on_signal};
    sigaction(SIGTERM, &act, NULL);
    sigaction(SIGINT, &act, NULL);
    sigaction(SIGALRM, &act, NULL);
    alarm((unsigned)max_time + 1);          /* the watchdog */
    if (rr_server) {
        /* The client waits in a blocking read, as a stack with nothing else
         * to do would: on the server's CPU a spin would only delay it. */
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
        return rr_client(fd, mac, ip, ntohl(sa.s_addr), (uint16_t)rr_port, rr_time);
    }
    printf("ready\n");
    fflush(stdout);
    uint8_t in[2048], out[256];
    unsigned long answered[3] = {0, 0, 0};
    while (!stop) {
        ssize_t n = read(fd, in, sizeof in);
        if (n < ETH_HDR)
            continue;                       /* EAGAIN: spin */
        size_t m = 0;
        int kind = -1;
        if (in[12] == 0x08 && in[13] == 0x06)
            m = arp_reply(in, (size_t)n, out, mac, ip);
        else if (in[12] == 0x08 && in[13] == 0x00)
            m = tcp_reply(in, (size_t)n, out, ip, &kind);
        if (m && write(fd, out, m) == (ssize_t)m && kind >= 0)
            answered[kind]++;
    }
    printf("result null_synacks=%lu\nresult null_finacks=%lu\nresult null_echoes=%lu\n",
           answered[0], answered[1], answered[2]);
    return 0;
}
