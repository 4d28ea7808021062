/* TCP header parsing and building (RFC 9293 3.1, 3.2). */
#include "core/tcp_wire.h"

#include <errno.h>

#include "core/checksum.h"
#include "core/ipv4.h"
#include "core/wire.h"

/* Options (RFC 9293 3.2): EOL, NOP, and kind-length-value. Unknown kinds are
 * skipped by their length (MUST-68); a length below 2 or past the header,
 * or an MSS option of the wrong length or of value 0, makes the segment
 * malformed. */
static int parse_options(const uint8_t *p, size_t len, struct tcp_seg *out)
{
    size_t i = 0;
    while (i < len) {
        uint8_t kind = p[i];
        if (kind == TCP_OPT_EOL)
            break;
        if (kind == TCP_OPT_NOP) {
            i++;
            continue;
        }
        if (i + 1 >= len)
            return -EINVAL;
        uint8_t olen = p[i + 1];
        if (olen < 2 || i + olen > len)
            return -EINVAL;
        if (kind == TCP_OPT_MSS) {
            if (olen != 4)
                return -EINVAL;
            uint16_t mss = get_be16(p + i + 2);
            if (mss == 0)
                return -EINVAL;
            out->has_mss = true;
            out->mss = mss;
        } else if (kind == TCP_OPT_WS) {
            if (olen != 3)
                return -EINVAL;
            out->has_ws = true;
            /* RFC 7323 2.3: a shift above 14 is used as 14. */
            out->ws = p[i + 2] > TCP_WS_MAX ? TCP_WS_MAX : p[i + 2];
        } else if (kind == TCP_OPT_SACK_PERM) {
            if (olen != 2)
                return -EINVAL;
            out->sack_perm = true;
        } else if (kind == TCP_OPT_TS) {
            if (olen != 10)
                return -EINVAL;
            out->has_ts = true;
            out->tsval = get_be32(p + i + 2);
            out->tsecr = get_be32(p + i + 6);
        } else if (kind == TCP_OPT_SACK) {
            /* RFC 2018 3: 2 + 8n bytes, n blocks of left and right edge. */
            if (olen < 10 || (olen - 2) % 8 != 0 || (olen - 2) / 8 > TCP_SACK_MAX_BLOCKS)
                return -EINVAL;
            uint8_t n = (uint8_t)((olen - 2) / 8);
            for (uint8_t b = 0; b < n; b++) {
                out->sack[b].start = get_be32(p + i + 2 + 8 * b);
                out->sack[b].end = get_be32(p + i + 6 + 8 * b);
            }
            out->nsack = n;
        }
        i += olen;
    }
    return 0;
}

int tcp_parse(const uint8_t *seg, size_t len, uint32_t src, uint32_t dst,
              struct tcp_seg *out, enum tapir_drop_reason *why)
{
    return tcp_parse_csum(seg, len, src, dst, true, out, why);
}

int tcp_parse_csum(const uint8_t *seg, size_t len, uint32_t src, uint32_t dst, bool verify_csum,
                   struct tcp_seg *out, enum tapir_drop_reason *why)
{
    if (len < TCP_HDR_LEN) {
        *why = TAPIR_DROP_TCP_TOO_SHORT;
        return -EINVAL;
    }
    uint8_t hdr_len = (uint8_t)((seg[12] >> 4) * 4);
    if (hdr_len < TCP_HDR_LEN || hdr_len > len) {
        *why = TAPIR_DROP_TCP_BAD_OFFSET;
        return -EINVAL;
    }
    if (len > 0xffff) {
        *why = TAPIR_DROP_TCP_TOO_SHORT;
        return -EINVAL;
    }
    uint32_t sum = csum_pseudo_ipv4(src, dst, IPPROTO_TCP_NUM, (uint16_t)len);
    if (verify_csum && csum_fold(csum_partial(seg, len, sum)) != 0) {
        *why = TAPIR_DROP_TCP_BAD_CHECKSUM;
        return -EINVAL;
    }
    out->sport = get_be16(seg);
    out->dport = get_be16(seg + 2);
    out->seq = get_be32(seg + 4);
    out->ack = get_be32(seg + 8);
    out->flags = seg[13];
    out->wnd = get_be16(seg + 14);
    out->urp = get_be16(seg + 18);
    out->hdr_len = hdr_len;
    out->has_mss = false;
    out->mss = 0;
    out->has_ws = false;
    out->ws = 0;
    out->sack_perm = false;
    out->has_ts = false;
    out->tsval = out->tsecr = 0;
    out->nsack = 0;
    if (parse_options(seg + TCP_HDR_LEN, hdr_len - TCP_HDR_LEN, out) < 0) {
        *why = TAPIR_DROP_TCP_BAD_OPTIONS;
        return -EINVAL;
    }
    out->data = seg + hdr_len;
    out->len = (uint32_t)(len - hdr_len);
    return 0;
}

uint32_t tcp_hdr_len_for(const struct tcp_seg *g)
{
    uint32_t n = TCP_HDR_LEN + (g->has_mss ? 4u : 0u) + (g->has_ws ? 4u : 0u);
    if (g->has_ts)
        n += TCP_TS_OPT_LEN;
    else if (g->sack_perm)
        n += 4;
    if (g->nsack)
        n += 4u + 8u * g->nsack;
    return n;
}

void tcp_write_header(uint8_t *h, const struct tcp_seg *g)
{
    uint32_t hl = tcp_hdr_len_for(g);
    put_be16(h, g->sport);
    put_be16(h + 2, g->dport);
    put_be32(h + 4, g->seq);
    put_be32(h + 8, g->ack);
    h[12] = (uint8_t)((hl / 4) << 4);
    h[13] = g->flags;
    put_be16(h + 14, g->wnd);
    put_be16(h + 16, 0);
    put_be16(h + 18, g->urp);
    uint8_t *o = h + TCP_HDR_LEN;
    if (g->has_mss) {
        o[0] = TCP_OPT_MSS;
        o[1] = 4;
        put_be16(o + 2, g->mss);
        o += 4;
    }
    /* Aligned as most stacks do, so the timestamps sit on a 4-byte
     * boundary (RFC 7323 Appendix A); SACK-permitted takes the place of
     * the two NOPs in front of them when both are sent. */
    if (g->has_ts) {
        o[0] = g->sack_perm ? TCP_OPT_SACK_PERM : TCP_OPT_NOP;
        o[1] = g->sack_perm ? 2 : TCP_OPT_NOP;
        o[2] = TCP_OPT_TS;
        o[3] = 10;
        put_be32(o + 4, g->tsval);
        put_be32(o + 8, g->tsecr);
        o += TCP_TS_OPT_LEN;
    } else if (g->sack_perm) {
        o[0] = TCP_OPT_NOP;
        o[1] = TCP_OPT_NOP;
        o[2] = TCP_OPT_SACK_PERM;
        o[3] = 2;
        o += 4;
    }
    if (g->has_ws) {
        o[0] = TCP_OPT_NOP;
        o[1] = TCP_OPT_WS;
        o[2] = 3;
        o[3] = g->ws;
        o += 4;
    }
    if (g->nsack) {
        o[0] = TCP_OPT_NOP;
        o[1] = TCP_OPT_NOP;
        o[2] = TCP_OPT_SACK;
        o[3] = (uint8_t)(2 + 8 * g->nsack);
        for (uint8_t b = 0; b < g->nsack; b++) {
            put_be32(o + 4 + 8 * b, g->sack[b].start);
            put_be32(o + 8 + 8 * b, g->sack[b].end);
        }
    }
}

void tcp_fill_checksum(uint8_t *seg, size_t len, uint32_t src, uint32_t dst)
{
    put_be16(seg + 16, 0);
    uint32_t sum = csum_pseudo_ipv4(src, dst, IPPROTO_TCP_NUM, (uint16_t)len);
    put_be16(seg + 16, csum_fold(csum_partial(seg, len, sum)));
}
