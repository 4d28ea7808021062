/* bench_tapnull — the fastest "server" a TAP device allows: a program that
 * answers a kernel client's connect() and close() with no TCP at all, to
 * measure the ceiling of the one-after-another connection rate that any
 * userspace stack on this TAP, this client and this machine can reach.
 *
 *   bench_tapnull [--dev tap0] [--ip 10.0.0.2] [--mac 02:00:00:00:00:02]
 *                 [--cpu N] [--max-time S]
 *
 * It busy-reads the device (never sleeps), answers ARP requests for its
 * address, a SYN with a SYN,ACK (MSS option only), a small data segment
 * (up to ECHO_MAX bytes) with the same bytes back, and a FIN with a FIN,ACK,
 * each made from the segment itself, ignores everything else, and prints
 *   result null_synacks=N  result null_finacks=N  result null_echoes=N
 * at the end (SIGTERM, SIGINT or --max-time). It keeps no state: the
 * ISN is the same for every connection, which is harmless to a client that
 * only connects and closes. For measurement inside a private namespace only
 * (tools/tapnet), like every bench program.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
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

#define ETH_HDR 14
#define IP_HDR 20
#define NULL_ISN 0x10000000u
/* Data segments up to this size are echoed (the 1-byte echo workload). */
#define ECHO_MAX 64u

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

static uint32_t sum16(const uint8_t *p, size_t n, uint32_t acc)
{
    for (size_t i = 0; i + 1 < n; i += 2)
        acc += (uint32_t)(p[i] << 8 | p[i + 1]);
    if (n & 1)
        acc += (uint32_t)p[n - 1] << 8;
    return acc;
}

static uint16_t fold(uint32_t acc)
{
    while (acc >> 16)
        acc = (acc & 0xffff) + (acc >> 16);
    return (uint16_t)~acc;
}

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)(v >> 16)); put16(p + 2, (uint16_t)v); }
static uint32_t get32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

/* ARP request for our address -> reply (RFC 826). */
static size_t arp_reply(const uint8_t *in, size_t n, uint8_t *out, const uint8_t mac[6], uint32_t ip)
{
    if (n < ETH_HDR + 28 || in[ETH_HDR + 7] != 1 || get32(in + ETH_HDR + 24) != ip)
        return 0;
    memcpy(out, in + 6, 6);
    memcpy(out + 6, mac, 6);
    out[12] = 0x08; out[13] = 0x06;
    memcpy(out + ETH_HDR, in + ETH_HDR, 6);          /* htype, ptype, hlen, plen */
    put16(out + ETH_HDR + 6, 2);                     /* reply */
    memcpy(out + ETH_HDR + 8, mac, 6);
    put32(out + ETH_HDR + 14, ip);
    memcpy(out + ETH_HDR + 18, in + ETH_HDR + 8, 10);   /* sender -> target */
    return ETH_HDR + 28;
}

/* A SYN -> SYN,ACK; a FIN -> FIN,ACK; 0 for anything else. */
static size_t tcp_reply(const uint8_t *in, size_t n, uint8_t *out, uint32_t ip, int *kind)
{
    if (n < ETH_HDR + IP_HDR + 20 || in[ETH_HDR] != 0x45 || in[ETH_HDR + 9] != 6 ||
        get32(in + ETH_HDR + 16) != ip)
        return 0;
    const uint8_t *t = in + ETH_HDR + IP_HDR;
    uint16_t ip_len = (uint16_t)(in[ETH_HDR + 2] << 8 | in[ETH_HDR + 3]);
    size_t thl = (size_t)(t[12] >> 4) * 4;
    if (ip_len < IP_HDR + thl || ETH_HDR + (size_t)ip_len > n)
        return 0;
    uint32_t seglen = ip_len - IP_HDR - (uint32_t)thl;
    uint8_t flags = t[13];
    uint32_t seq = get32(t + 4), ack;
    uint8_t rflags;
    size_t opt = 0, plen = 0;
    const uint8_t *payload = NULL;
    if ((flags & 0x17) == 0x02) {                    /* SYN alone */
        rflags = 0x12;
        seq = NULL_ISN;
        ack = get32(t + 4) + 1;
        opt = 4;
        *kind = 0;
    } else if ((flags & 0x05) == 0x01 && (flags & 0x10)) {   /* FIN with ACK, no RST */
        rflags = 0x11;
        seq = get32(t + 8);
        ack = get32(t + 4) + seglen + 1;
        *kind = 1;
    } else if ((flags & 0x07) == 0 && (flags & 0x10) && seglen > 0 && seglen <= ECHO_MAX) {
        rflags = 0x18;                               /* data: echo it, PSH,ACK */
        seq = get32(t + 8);
        ack = get32(t + 4) + seglen;
        payload = t + thl;
        plen = seglen;
        *kind = 2;
    } else {
        return 0;
    }
    memcpy(out, in + 6, 6);
    memcpy(out + 6, in, 6);
    out[12] = 0x08; out[13] = 0x00;
    uint8_t *h = out + ETH_HDR;
    size_t tlen = 20 + opt;
    memset(h, 0, IP_HDR);
    h[0] = 0x45;
    put16(h + 2, (uint16_t)(IP_HDR + tlen + plen));
    h[8] = 64;
    h[9] = 6;
    memcpy(h + 12, in + ETH_HDR + 16, 4);
    memcpy(h + 16, in + ETH_HDR + 12, 4);
    put16(h + 10, fold(sum16(h, IP_HDR, 0)));
    uint8_t *r = h + IP_HDR;
    memset(r, 0, tlen);
    memcpy(r, t + 2, 2);
    memcpy(r + 2, t, 2);
    put32(r + 4, seq);
    put32(r + 8, ack);
    r[12] = (uint8_t)((tlen / 4) << 4);
    r[13] = rflags;
    put16(r + 14, 65535);
    if (opt) {
        r[20] = 2; r[21] = 4;
        put16(r + 22, 1460);
    }
    if (plen)
        memcpy(r + tlen, payload, plen);
    uint32_t acc = sum16(h + 12, 8, 0) + 6 + (uint32_t)(tlen + plen);    /* pseudo-header */
    put16(r + 16, fold(sum16(r, tlen + plen, acc)));
    return ETH_HDR + IP_HDR + tlen + plen;
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
    double max_time = 60;
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
        else {
            fprintf(stderr, "usage: %s [--dev D] [--ip A] [--mac M] [--cpu N] [--max-time S]\n", argv[0]);
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
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    signal(SIGALRM, on_signal);
    alarm((unsigned)max_time + 1);          /* the watchdog */
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
