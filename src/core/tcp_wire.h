/* TCP header and options on the wire (RFC 9293 3.1, 3.2): parse into a
 * host-order struct, build from one. Nothing here knows about connections. */
#ifndef TAPIR_CORE_TCP_WIRE_H
#define TAPIR_CORE_TCP_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tapir/tapir.h"

#define TCP_HDR_LEN 20
#define TCP_MAX_HDR_LEN 60

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10
#define TCP_URG 0x20
#define TCP_ECE 0x40
#define TCP_CWR 0x80

#define TCP_OPT_EOL 0
#define TCP_OPT_NOP 1
#define TCP_OPT_MSS 2
#define TCP_OPT_WS 3             /* window scale, RFC 7323 2 */
#define TCP_OPT_SACK_PERM 4      /* SACK-permitted, RFC 2018 2 */
#define TCP_OPT_SACK 5           /* SACK blocks, RFC 2018 3 */
#define TCP_OPT_TS 8             /* timestamps, RFC 7323 3 */
#define TCP_WS_MAX 14
#define TCP_TS_OPT_LEN 12        /* NOP NOP kind len TSval TSecr: per-segment cost */
#define TCP_SACK_MAX_BLOCKS 4    /* 4 fit in 40 option bytes; 3 beside timestamps */

/* A parsed segment: header fields in host order, options understood, and
 * the payload (pointing into the caller's buffer). */
struct tcp_seg {
    uint16_t sport, dport;
    uint32_t seq, ack;
    uint8_t flags;
    uint16_t wnd, urp;
    uint8_t hdr_len;        /* bytes, 20..60 */
    bool has_mss;
    uint16_t mss;
    bool has_ws;
    uint8_t ws;             /* shift count, at most TCP_WS_MAX */
    bool sack_perm;         /* SACK-permitted (meaningful on a SYN) */
    bool has_ts;
    uint32_t tsval, tsecr;
    uint8_t nsack;          /* SACK blocks: [start, end) each, as sent */
    struct { uint32_t start, end; } sack[TCP_SACK_MAX_BLOCKS];
    const uint8_t *data;
    uint32_t len;           /* payload bytes */
};

/* SEG.LEN: payload plus one for each of SYN and FIN (RFC 9293 3.4). */
static inline uint32_t tcp_seg_seqlen(const struct tcp_seg *g)
{
    return g->len + ((g->flags & TCP_SYN) ? 1u : 0u) + ((g->flags & TCP_FIN) ? 1u : 0u);
}

/* Parse a segment that came from src to dst (host order). Checks length,
 * data offset, checksum and options. 0, or -EINVAL with *why set. */
int tcp_parse(const uint8_t *seg, size_t len, uint32_t src, uint32_t dst,
              struct tcp_seg *out, enum tapir_drop_reason *why);
/* The same; verify_csum false skips the checksum (a device vouched for it). */
int tcp_parse_csum(const uint8_t *seg, size_t len, uint32_t src, uint32_t dst, bool verify_csum,
                   struct tcp_seg *out, enum tapir_drop_reason *why);

/* Header length the options of g need (20; +4 with MSS; +4 with WS; +12
 * with timestamps (SACK-permitted rides in their padding), else +4 for
 * SACK-permitted alone; +4+8n for n SACK blocks). */
uint32_t tcp_hdr_len_for(const struct tcp_seg *g);
/* Write g's header (options included, checksum zero) into hdr, which has
 * tcp_hdr_len_for(g) bytes. */
void tcp_write_header(uint8_t *hdr, const struct tcp_seg *g);
/* Fill the checksum of the segment [seg, seg+len) sent from src to dst. */
void tcp_fill_checksum(uint8_t *seg, size_t len, uint32_t src, uint32_t dst);

#endif
