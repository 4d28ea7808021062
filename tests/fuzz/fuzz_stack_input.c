/* libFuzzer entry point (not part of ctest): one input reaches a stack
 * (10.0.0.2, IP link) that has a listener on port 80 and a connection from
 * 10.0.0.3:40000 established through it, with SACK, timestamps and window
 * scaling negotiated and data of its own in flight.
 *
 * Input: up to 16 records, each [mode (2 bits) | ms to let pass first (6
 * bits)] [length] [length bytes]; the mode chooses how the bytes arrive:
 *   mode 0: as a raw IPv4 packet;
 *   mode 1: as a TCP segment from the peer, wrapped in IPv4 with correct
 *           checksums, its ports forced to the connection's and its seq/ack
 *           taken as offsets from the peer's next sequence number and ours
 *           (so most inputs land in the window and reach the TCP machinery);
 *   mode 2: as mode 1, ports as given (listener, closed ports);
 *   mode 3: as mode 1, the TCP checksum left as given.
 * After each record the connection is read; at the end the timers run for
 * a while of virtual time, the application closes, and the stack is
 * destroyed (ASan reports any leak).
 *
 *   cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DTAPIR_FUZZ=ON
 *   cmake --build build-fuzz --target fuzz_stack_input
 *   ./build-fuzz/tests/fuzz/fuzz_stack_input -max_total_time=60 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/checksum.h"
#include "core/stack.h"
#include "core/tcp.h"
#include "core/tcp_api.h"
#include "core/tcp_conn.h"
#include "core/tcp_wire.h"
#include "core/wire.h"

#define US_IP 0x0a000002u
#define PEER_IP 0x0a000003u
#define PEER_PORT 40000
#define LISTEN_PORT 80
#define PEER_ISS 0xfffffc00u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct harness {
    tapir_stack *s;
    tapir_time_t now;
    uint32_t our_nxt;       /* the stack's next sequence number, as the peer sees it */
    uint32_t peer_nxt;
    bool saw_synack;
};

static int on_output(void *ctx, const uint8_t *frame, size_t len)
{
    struct harness *h = ctx;
    if (len < 40 || (frame[0] >> 4) != 4 || frame[9] != 6)
        return 0;
    size_t ihl = (size_t)(frame[0] & 15) * 4;
    const uint8_t *t = frame + ihl;
    if (len < ihl + TCP_HDR_LEN)
        return 0;
    if ((t[13] & (TCP_SYN | TCP_ACK)) == (TCP_SYN | TCP_ACK)) {
        h->our_nxt = get_be32(t + 4) + 1;
        h->saw_synack = true;
    }
    return 0;
}

/* One IPv4 packet from the peer carrying tcp[0, len). */
static void inject(struct harness *h, const uint8_t *tcp, size_t len, bool fix_csum)
{
    uint8_t pkt[20 + 65535];
    if (len > 65535 - 20)
        len = 65535 - 20;
    memset(pkt, 0, 20);
    pkt[0] = 0x45;
    put_be16(pkt + 2, (uint16_t)(20 + len));
    pkt[8] = 64;
    pkt[9] = 6;
    put_be32(pkt + 12, PEER_IP);
    put_be32(pkt + 16, US_IP);
    put_be16(pkt + 10, csum_fold(csum_partial(pkt, 20, 0)));
    memcpy(pkt + 20, tcp, len);
    if (fix_csum && len >= TCP_HDR_LEN)
        tcp_fill_checksum(pkt + 20, len, PEER_IP, US_IP);
    tapir_stack_input(h->s, pkt, 20 + len, h->now);
}

static void inject_seg(struct harness *h, uint8_t flags, const uint8_t *opts, size_t optlen, const void *payload,
                       size_t plen)
{
    uint8_t seg[TCP_MAX_HDR_LEN + 1500];
    memset(seg, 0, TCP_HDR_LEN);
    put_be16(seg, PEER_PORT);
    put_be16(seg + 2, LISTEN_PORT);
    put_be32(seg + 4, flags & TCP_SYN ? PEER_ISS : h->peer_nxt);
    put_be32(seg + 8, flags & TCP_ACK ? h->our_nxt : 0);
    seg[12] = (uint8_t)(((TCP_HDR_LEN + optlen) / 4) << 4);
    seg[13] = flags;
    put_be16(seg + 14, 65535);
    memcpy(seg + TCP_HDR_LEN, opts, optlen);
    if (plen)
        memcpy(seg + TCP_HDR_LEN + optlen, payload, plen);
    inject(h, seg, TCP_HDR_LEN + optlen + plen, true);
}

static uint8_t *ts_opt(uint8_t *o, uint32_t tsval, uint32_t tsecr)
{
    o[0] = TCP_OPT_NOP;
    o[1] = TCP_OPT_NOP;
    o[2] = TCP_OPT_TS;
    o[3] = 10;
    put_be32(o + 4, tsval);
    put_be32(o + 8, tsecr);
    return o + 12;
}

/* A stack with a listener and an established, loaded connection. */
static struct tcp_conn *setup(struct harness *h, struct tcp_conn **listener)
{
    struct tapir_config cfg;
    tapir_config_init(&cfg);
    cfg.link = TAPIR_LINK_IP;
    cfg.addr.s_addr = htonl(US_IP);
    cfg.prefix_len = 24;
    cfg.buf_count = 64;
    cfg.random_seed = 1;
    cfg.tx_thread = TAPIR_TX_THREAD_OFF;
    if (tapir_stack_create(&cfg, &h->s) < 0)
        abort();
    tapir_stack_set_output(h->s, on_output, h);
    h->now = TAPIR_SEC(1);
    tapir_stack_poll(h->s, h->now);
    int err;
    *listener = tcp_conn_new(h->s, &err);
    if (!*listener || tcp_bind(*listener, 0, LISTEN_PORT) < 0 || tcp_listen(*listener, 8) < 0)
        abort();
    uint8_t o[40], *p = o;
    *p++ = TCP_OPT_MSS, *p++ = 4, *p++ = 0x05, *p++ = 0xb4;
    *p++ = TCP_OPT_NOP, *p++ = TCP_OPT_WS, *p++ = 3, *p++ = 7;
    *p++ = TCP_OPT_NOP, *p++ = TCP_OPT_NOP, *p++ = TCP_OPT_SACK_PERM, *p++ = 2;
    p = ts_opt(p, 1000, 0);
    inject_seg(h, TCP_SYN, o, (size_t)(p - o), NULL, 0);
    if (!h->saw_synack)
        abort();
    h->peer_nxt = PEER_ISS + 1;
    h->now += TAPIR_MSEC(1);
    ts_opt(o, 1001, 0);
    inject_seg(h, TCP_ACK, o, 12, NULL, 0);
    struct tcp_conn *c = NULL;
    if (tcp_accept(*listener, &c) < 0)
        abort();
    /* Data of our own in flight, and some of the peer's received. */
    static const uint8_t text[4000] = {1};
    tcp_send(c, text, sizeof text);
    inject_seg(h, TCP_ACK | TCP_PSH, o, 12, text, 100);
    h->peer_nxt += 100;
    return c;
}

/* One record of the input: a segment (or packet) for the stack. */
static void deliver(struct harness *h, unsigned mode, const uint8_t *in, size_t len)
{
    if (mode == 0) {
        tapir_stack_input(h->s, in, len, h->now);
        return;
    }
    if (len < TCP_HDR_LEN)
        return;
    uint8_t seg[1500];
    if (len > sizeof seg)
        len = sizeof seg;
    memcpy(seg, in, len);
    if (mode != 2) {
        put_be16(seg, PEER_PORT);
        put_be16(seg + 2, LISTEN_PORT);
    }
    put_be32(seg + 4, get_be32(seg + 4) + h->peer_nxt);
    put_be32(seg + 8, get_be32(seg + 8) + h->our_nxt);
    inject(h, seg, len, mode != 3);
}

/* Run the timers that fall due within dt, bounded. */
static void advance(struct harness *h, tapir_time_t dt)
{
    tapir_time_t until = h->now + dt;
    for (int i = 0; i < 32; i++) {
        tapir_time_t next = tapir_stack_next_deadline(h->s);
        if (next > until)
            break;
        h->now = next > h->now ? next : h->now + 1;
        tapir_stack_poll(h->s, h->now);
    }
    if (until > h->now)
        h->now = until;
    tapir_stack_poll(h->s, h->now);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct harness h = {0};
    struct tcp_conn *listener;
    struct tcp_conn *c = setup(&h, &listener);
    uint8_t buf[4096];
    /* Records: [mode:2 | time step:6] [length] [bytes...], at most 16. */
    size_t at = 0;
    for (int n = 0; n < 16 && at + 2 <= size; n++) {
        unsigned mode = data[at] & 3;
        tapir_time_t step = TAPIR_MSEC(data[at] >> 2);
        size_t len = data[at + 1];
        at += 2;
        if (len > size - at)
            len = size - at;
        advance(&h, step);
        deliver(&h, mode, data + at, len);
        at += len;
        /* The application reads whatever arrived (urgent byte included). */
        if (c && tcp_state(c) != TAPIR_TCP_CLOSED) {
            while (tcp_recv(c, buf, sizeof buf, false) > 0)
                ;
            tcp_recv_urgent(c, buf, 1, false);
        }
    }
    /* Timers run on, bounded, whatever the input did. */
    advance(&h, TAPIR_SEC(5));
    if (h.s->pool.in_use > 8)
        abort();        /* buffers piling up between calls: a leak in the making */
    tcp_close(c);
    tcp_close(listener);
    advance(&h, TAPIR_SEC(1));
    tapir_stack_destroy(h.s);
    return 0;
}
