/* ICMP (RFC 792, RFC 1122 3.2.2): echo replies, rate-limited error messages,
 * and incoming errors handed to the transport they are about. */
#include "core/icmp.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/checksum.h"
#include "core/stack.h"
#include "core/tcp.h"
#include "core/wire.h"

#define ICMP_HDR_LEN 8
#define ICMP_SOURCE_QUENCH 4
/* One token of the error bucket, in token-microseconds (see icmp_state). */
#define TOKEN_UNIT 1000000ull

struct icmp_state {
    /* Token bucket for error messages: credit in units of 1/1e6 token, so
     * that refilling errors_per_sec tokens per second is an integer
     * elapsed_us * errors_per_sec. */
    uint64_t credit;
    tapir_time_t refilled_at;
};

int icmp_init(struct tapir_stack *s)
{
    s->icmp = calloc(1, sizeof *s->icmp);
    if (!s->icmp)
        return -ENOMEM;
    s->icmp->credit = (uint64_t)s->cfg.icmp_error_burst * TOKEN_UNIT;
    s->icmp->refilled_at = 0;
    return 0;
}

void icmp_destroy(struct tapir_stack *s)
{
    free(s->icmp);
    s->icmp = NULL;
}

/* Take one token; false when the bucket is empty. */
static bool take_error_token(struct tapir_stack *s)
{
    struct icmp_state *st = s->icmp;
    uint64_t cap = (uint64_t)s->cfg.icmp_error_burst * TOKEN_UNIT;
    if (s->now > st->refilled_at) {
        uint64_t elapsed = s->now - st->refilled_at;
        uint64_t rate = s->cfg.icmp_errors_per_sec;
        /* Clamp before multiplying: past a full refill more time adds nothing. */
        if (rate == 0 || elapsed > cap / rate + 1)
            st->credit = rate ? cap : st->credit;
        else
            st->credit = st->credit + elapsed * rate > cap ? cap : st->credit + elapsed * rate;
        st->refilled_at = s->now;
    }
    if (st->credit < TOKEN_UNIT)
        return false;
    st->credit -= TOKEN_UNIT;
    return true;
}

static void send_echo_reply(struct tapir_stack *s, const struct ipv4_repr *ip, const uint8_t *msg, size_t len)
{
    /* RFC 792: the reply carries the request's identifier, sequence number
     * and data unchanged; only type and checksum differ. */
    uint8_t hdr[ICMP_HDR_LEN];
    memcpy(hdr, msg, ICMP_HDR_LEN);
    hdr[0] = ICMP_ECHO_REPLY;
    hdr[1] = 0;
    put_be16(hdr + 2, 0);
    uint32_t sum = csum_partial(hdr, ICMP_HDR_LEN, 0);
    sum = csum_partial(msg + ICMP_HDR_LEN, len - ICMP_HDR_LEN, sum);
    put_be16(hdr + 2, csum_fold(sum));
    /* A reply to a reassembled request may exceed the MTU: this is the one
     * place where we fragment on output (see ipv4.h). */
    if (ipv4_output_fragmented(s, ip->src, IPPROTO_ICMP_NUM, hdr, ICMP_HDR_LEN,
                               msg + ICMP_HDR_LEN, len - ICMP_HDR_LEN) == 0) {
        s->stats.icmp_tx++;
        s->stats.icmp_echo_replies++;
    }
}

/* An error (destination unreachable, time exceeded, parameter problem) about
 * a datagram that we sent: find the transport it concerns (RFC 1122 3.2.2). */
static void error_input(struct tapir_stack *s, uint8_t type, uint8_t code, const uint8_t *msg, size_t len)
{
    const uint8_t *inner = msg + ICMP_HDR_LEN;
    size_t ilen = len - ICMP_HDR_LEN;
    /* The quote is the original header + at least 8 bytes (RFC 792). Its total
     * length and checksum describe the original datagram, not this quote, so
     * only version and IHL are checked. */
    if (ilen < IPV4_HDR_LEN || (inner[0] >> 4) != 4) {
        stack_drop(s, TAPIR_DROP_ICMP_TOO_SHORT);
        return;
    }
    size_t ihl = (size_t)(inner[0] & 0x0f) * 4;
    if (ihl < IPV4_HDR_LEN || ihl + 8 > ilen) {
        stack_drop(s, TAPIR_DROP_ICMP_TOO_SHORT);
        return;
    }
    struct ipv4_repr in = {
        .ihl = (uint8_t)ihl,
        .tos = inner[1],
        .total_len = get_be16(inner + 2),
        .id = get_be16(inner + 4),
        .df = (get_be16(inner + 6) & 0x4000) != 0,
        .mf = (get_be16(inner + 6) & 0x2000) != 0,
        .frag_offset = (uint16_t)((get_be16(inner + 6) & 0x1fff) * 8),
        .ttl = inner[8],
        .proto = inner[9],
        .src = get_be32(inner + 12),
        .dst = get_be32(inner + 16),
    };
    if (in.src != s->ip || in.proto != IPPROTO_TCP_NUM) {
        /* Not about a TCP segment of ours: nothing above cares. */
        stack_drop(s, TAPIR_DROP_ICMP_UNSUPPORTED);
        return;
    }
    s->stats.icmp_errors_rx++;
    tcp_icmp_error(s, type, code, &in, inner + ihl, ilen - ihl);
}

void icmp_input(struct tapir_stack *s, const struct ipv4_repr *ip, const uint8_t *msg, size_t len)
{
    if (len < ICMP_HDR_LEN) {
        stack_drop(s, TAPIR_DROP_ICMP_TOO_SHORT);
        return;
    }
    if (csum_compute(msg, len) != 0) {
        stack_drop(s, TAPIR_DROP_ICMP_BAD_CHECKSUM);
        return;
    }
    uint8_t type = msg[0], code = msg[1];
    switch (type) {
    case ICMP_ECHO_REQUEST:
        /* Like Linux (icmp_echo_ignore_broadcasts=1): no replies to
         * broadcast pings, which would make us a smurf amplifier. */
        if (ip->dst != s->ip) {
            stack_drop(s, TAPIR_DROP_ICMP_UNSUPPORTED);
            return;
        }
        s->stats.icmp_rx++;
        send_echo_reply(s, ip, msg, len);
        return;
    case ICMP_DEST_UNREACH:
    case ICMP_TIME_EXCEEDED:
    case ICMP_PARAM_PROBLEM:
        s->stats.icmp_rx++;
        error_input(s, type, code, msg, len);
        return;
    case ICMP_SOURCE_QUENCH:
        /* RFC 6633: source quench is deprecated and must be ignored. */
    default:
        stack_drop(s, TAPIR_DROP_ICMP_UNSUPPORTED);
        return;
    }
}

/* RFC 1122 3.2.2: an ICMP error MUST NOT be sent about an ICMP error, a
 * datagram to a broadcast/multicast address, a non-initial fragment, or a
 * datagram whose source does not define a single host. */
static bool may_send_error_about(const struct tapir_stack *s, const uint8_t *orig, size_t orig_len)
{
    if (orig_len < IPV4_HDR_LEN || (orig[0] >> 4) != 4)
        return false;
    size_t ihl = (size_t)(orig[0] & 0x0f) * 4;
    if (ihl < IPV4_HDR_LEN || ihl > orig_len)
        return false;
    uint32_t src = get_be32(orig + 12), dst = get_be32(orig + 16);
    if (ipv4_is_broadcast(s, dst) || (dst >> 28) == 0xe)
        return false;
    if (src == 0 || ipv4_is_broadcast(s, src) || (src >> 28) >= 0xe)
        return false;
    if ((get_be16(orig + 6) & 0x1fff) != 0)
        return false;
    if (orig[9] == IPPROTO_ICMP_NUM) {
        /* Errors about queries (echo ...) are allowed; about errors, never. */
        if (orig_len < ihl + 1)
            return false;
        uint8_t t = orig[ihl];
        if (t != ICMP_ECHO_REQUEST && t != ICMP_ECHO_REPLY && t != 13 && t != 14 &&
            t != 15 && t != 16 && t != 17 && t != 18)
            return false;
    }
    return true;
}

int icmp_send_error(struct tapir_stack *s, uint8_t type, uint8_t code, const uint8_t *orig, size_t orig_len)
{
    if (!may_send_error_about(s, orig, orig_len))
        return -EINVAL;
    if (!take_error_token(s)) {
        stack_drop(s, TAPIR_DROP_ICMP_RATE_LIMITED);
        return -ENOBUFS;
    }
    size_t ihl = (size_t)(orig[0] & 0x0f) * 4;
    size_t quote = orig_len < ihl + 8 ? orig_len : ihl + 8;
    struct buf *b = buf_alloc(&s->pool);
    if (!b) {
        stack_drop(s, TAPIR_DROP_NO_BUFFER);
        return -ENOBUFS;
    }
    uint8_t *p = buf_put(b, (uint32_t)(ICMP_HDR_LEN + quote));
    p[0] = type;
    p[1] = code;
    put_be16(p + 2, 0);
    put_be32(p + 4, 0);    /* unused (or next-hop MTU for NEEDFRAG, RFC 1191) */
    if (type == ICMP_DEST_UNREACH && code == ICMP_UNREACH_NEEDFRAG)
        put_be16(p + 6, (uint16_t)s->mtu);
    memcpy(p + ICMP_HDR_LEN, orig, quote);
    put_be16(p + 2, csum_compute(p, ICMP_HDR_LEN + quote));
    int err = ipv4_output(s, get_be32(orig + 12), IPPROTO_ICMP_NUM, b);
    if (err == 0)
        s->stats.icmp_tx++;
    return err;
}

void icmp_send_unreachable(struct tapir_stack *s, uint8_t code, const uint8_t *orig, size_t orig_len)
{
    if (icmp_send_error(s, ICMP_DEST_UNREACH, code, orig, orig_len) == 0)
        s->stats.icmp_unreach_sent++;
}
