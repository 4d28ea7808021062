/* TCP header and option mutator for the live fuzz test (fuzz_mutator.h). */
#include "fuzz_mutator.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/checksum.h"
#include "core/tcp_seq.h"
#include "core/tcp_wire.h"
#include "core/wire.h"

#define FUZZ_SEG_MAX 4096u

static const char *const kind_names[FUZZ__COUNT] = {
    [FUZZ_FLIP_HDR] = "flip_hdr",     [FUZZ_FLIP_OPT] = "flip_opt",   [FUZZ_DOFF] = "doff",
    [FUZZ_SACK] = "sack",             [FUZZ_BAD_OPTLEN] = "bad_optlen", [FUZZ_TS_PAST] = "ts_past",
    [FUZZ_TS_FUTURE] = "ts_future",   [FUZZ_TSECR] = "tsecr",         [FUZZ_SYN_OPTS] = "syn_opts",
    [FUZZ_URG] = "urg",               [FUZZ_ACK_BEYOND] = "ack_beyond", [FUZZ_FLAGS] = "flags",
    [FUZZ_WINDOW] = "window",         [FUZZ_STRIP_OPTS] = "strip_opts", [FUZZ_BAD_CSUM] = "bad_csum",
    [FUZZ_RST] = "rst",
};

const char *fuzz_kind_name(enum fuzz_kind k) { return k < FUZZ__COUNT ? kind_names[k] : "?"; }

void fuzz_mutator_init(struct fuzz_mutator *m, uint64_t seed, double rate)
{
    memset(m, 0, sizeof *m);
    m->rng = seed ? seed : 1;
    m->rate = rate;
    m->force_kind = -1;
    m->verbose = getenv("FUZZ_VERBOSE") != NULL;
}

void fuzz_arm_rst(struct fuzz_mutator *m) { m->rst_armed = true; }

static uint64_t rnd(struct fuzz_mutator *m)
{
    /* xorshift64*: a small deterministic generator per mutator. */
    m->rng ^= m->rng >> 12;
    m->rng ^= m->rng << 25;
    m->rng ^= m->rng >> 27;
    return m->rng * 0x2545f4914f6cdd1dull;
}

uint64_t fuzz_rand(struct fuzz_mutator *m) { return rnd(m); }

static uint32_t below(struct fuzz_mutator *m, uint32_t n) { return n ? (uint32_t)(rnd(m) % n) : 0; }

/* ---- the header being built ----------------------------------------------- */

/* The mutated header: bytes [0, len) go out in front of the payload. The
 * data offset nibble (byte 12) is set from len by the structure-aware
 * kinds and left alone (whatever it says) by the blind ones. */
struct hdr {
    uint8_t b[TCP_MAX_HDR_LEN];
    size_t len;
};

static void hdr_set_doff(struct hdr *h) { h->b[12] = (uint8_t)((h->len / 4) << 4 | (h->b[12] & 0x0f)); }

/* Options built afresh, padded with EOL to a 4-byte multiple. */
struct opts {
    uint8_t b[TCP_MAX_HDR_LEN - TCP_HDR_LEN];
    size_t n;
};

static bool opts_put(struct opts *o, const uint8_t *p, size_t n)
{
    if (o->n + n > sizeof o->b)
        return false;
    memcpy(o->b + o->n, p, n);
    o->n += n;
    return true;
}

static bool opts_put_ts(struct opts *o, uint32_t tsval, uint32_t tsecr)
{
    uint8_t t[12] = {TCP_OPT_NOP, TCP_OPT_NOP, TCP_OPT_TS, 10};
    put_be32(t + 4, tsval);
    put_be32(t + 8, tsecr);
    return opts_put(o, t, sizeof t);
}

/* Replace h's options by o (padded), data offset to match. */
static bool hdr_set_opts(struct hdr *h, const struct opts *o)
{
    size_t n = (o->n + 3) & ~(size_t)3;
    if (TCP_HDR_LEN + n > TCP_MAX_HDR_LEN)
        return false;
    memset(h->b + TCP_HDR_LEN, TCP_OPT_EOL, n);
    memcpy(h->b + TCP_HDR_LEN, o->b, o->n);
    h->len = TCP_HDR_LEN + n;
    hdr_set_doff(h);
    return true;
}

/* Offset in h of the first option of kind (options walked as the parser
 * does), 0 if none. */
static size_t find_opt(const struct hdr *h, uint8_t kind)
{
    size_t i = TCP_HDR_LEN;
    while (i < h->len) {
        uint8_t k = h->b[i];
        if (k == TCP_OPT_EOL)
            return 0;
        if (k == TCP_OPT_NOP) {
            i++;
            continue;
        }
        if (i + 1 >= h->len || h->b[i + 1] < 2)
            return 0;
        if (k == kind)
            return i;
        i += h->b[i + 1];
    }
    return 0;
}

/* ---- one function per kind: false when it does not apply ------------------ */

struct ctx {
    struct fuzz_mutator *m;
    const struct tcp_seg *og;       /* the original, parsed */
    const struct fuzz_view *view;
    struct hdr *h;
    bool comb;                      /* SACK: comb blocks only */
};

static bool flip_bits(struct ctx *x, size_t from, size_t to)
{
    if (to <= from)
        return false;
    unsigned n = 1 + below(x->m, 3);
    for (unsigned i = 0; i < n; i++) {
        size_t at = from + below(x->m, (uint32_t)(to - from));
        x->h->b[at] ^= (uint8_t)(1u << below(x->m, 8));
    }
    return true;
}

static bool mut_flip_hdr(struct ctx *x) { return flip_bits(x, 0, TCP_HDR_LEN); }
static bool mut_flip_opt(struct ctx *x) { return flip_bits(x, TCP_HDR_LEN, x->h->len); }

static bool mut_doff(struct ctx *x)
{
    struct hdr *h = x->h;
    switch (below(x->m, 3)) {
    case 0: {
        /* Padding: NOPs or an unknown option (RFC 9293 MUST-68: skipped by
         * its length) in front of the payload, which stays intact. */
        size_t room = TCP_MAX_HDR_LEN - h->len;
        if (room < 4)
            return false;
        size_t add = 4 * (1 + below(x->m, (uint32_t)(room / 4)));
        if (below(x->m, 2)) {
            memset(h->b + h->len, TCP_OPT_NOP, add);
        } else {
            h->b[h->len] = 30 + (uint8_t)below(x->m, 200);     /* unassigned/experimental kinds */
            h->b[h->len + 1] = (uint8_t)add;
            memset(h->b + h->len + 2, 0xa5, add - 2);
        }
        h->len += add;
        hdr_set_doff(h);
        return true;
    }
    case 1:
        h->b[12] = (uint8_t)(below(x->m, 5) << 4 | (h->b[12] & 0x0f));    /* below 20 bytes */
        return true;
    default:
        h->b[12] = (uint8_t)(below(x->m, 16) << 4 | (h->b[12] & 0x0f));
        return true;
    }
}

/* One SACK block around the receiver's SND.UNA..SND.MAX, drawn from the
 * edges RFC 2018 / RFC 6675 code must survive. */
static void sack_block(struct ctx *x, uint32_t *l, uint32_t *r, uint32_t prev_l, uint32_t prev_r, bool comb)
{
    struct fuzz_mutator *m = x->m;
    uint32_t una = x->view->valid ? x->view->snd_una : x->og->ack;
    uint32_t max = x->view->valid ? x->view->snd_max : x->og->ack + 65536;
    uint32_t span = max - una;
    uint32_t a = una + below(m, span + 1);
    uint32_t b = a + below(m, max - a + 1);
    switch (comb ? 10 : below(m, 12)) {
    case 10:
    case 11: {
        /* A comb of small blocks, one of 32 teeth above the segment's
         * ACK: over a few ACKs more distinct ranges than the scoreboard
         * keeps. */
        uint32_t base = seq_gt(x->og->ack, una) && seq_lt(x->og->ack, max) ? x->og->ack : una;
        uint32_t step = (max - base) / 32 ? (max - base) / 32 : 1;
        *l = base + step * below(m, 32) + 1;
        *r = *l + 1 + below(m, step > 2 ? step / 2 : 1);
        break;
    }
    case 0: *l = a; *r = b; break;                                      /* inside */
    case 1: *l = b + 1; *r = a; break;                                  /* left > right */
    case 2: *l = a; *r = a; break;                                      /* zero length */
    case 3: *l = 0xffffffffu - below(m, 3000); *r = below(m, 3000); break; /* across 2^32 */
    case 4: *l = una + 0x80000000u + below(m, 1u << 20); *r = *l + 1 + below(m, 65536); break; /* far off */
    case 5: *l = una - 1 - below(m, 5000); *r = una + below(m, span + 1); break;  /* over the cum. ACK */
    case 6: *l = prev_l; *r = prev_r; break;                            /* a duplicate */
    case 7: *l = una; *r = max; break;                                  /* everything */
    case 8: *l = max - below(m, 100); *r = max + 1 + below(m, 3000); break; /* past SND.MAX */
    default: *l = una - below(m, 1u << 30); *r = *l + below(m, 1u << 31); break; /* anything */
    }
}

static bool mut_sack(struct ctx *x)
{
    struct fuzz_mutator *m = x->m;
    const struct tcp_seg *og = x->og;
    /* With timestamps 3 blocks fit; 4 only without them (then the
     * receiver drops the segment for its missing TSopt, RFC 7323 3.2,
     * after the options were parsed). */
    bool keep_ts = og->has_ts && (x->comb || below(m, 6) != 0);
    uint32_t nmax = keep_ts ? 3 : 4;
    uint32_t n = x->comb ? nmax : 1 + below(m, nmax);
    struct opts o = {.n = 0};
    if (keep_ts)
        opts_put_ts(&o, og->tsval, og->tsecr);
    uint8_t s[4 + 8 * TCP_SACK_MAX_BLOCKS] = {TCP_OPT_NOP, TCP_OPT_NOP, TCP_OPT_SACK, (uint8_t)(2 + 8 * n)};
    uint32_t pl = og->ack, pr = og->ack + 1;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t l, r;
        sack_block(x, &l, &r, pl, pr, x->comb);
        put_be32(s + 4 + 8 * i, l);
        put_be32(s + 8 + 8 * i, r);
        pl = l;
        pr = r;
    }
    return opts_put(&o, s, 4 + 8 * n) && hdr_set_opts(x->h, &o);
}

static bool mut_bad_optlen(struct ctx *x)
{
    struct fuzz_mutator *m = x->m;
    const struct tcp_seg *og = x->og;
    struct opts o = {.n = 0};
    if (og->has_ts)
        opts_put_ts(&o, og->tsval, og->tsecr);
    static const uint8_t known[] = {TCP_OPT_MSS, TCP_OPT_WS, TCP_OPT_SACK_PERM, TCP_OPT_SACK, TCP_OPT_TS};
    static const uint8_t wrong_len[][4] = {
        /* per known kind: lengths the parser must refuse */
        {3, 5, 2, 6}, {2, 4, 5, 10}, {3, 4, 1 + 2, 10}, {3, 9, 11, 18 + 1}, {9, 11, 8, 12},
    };
    uint8_t kind = below(m, 2) ? known[below(m, 5)] : (uint8_t)(6 + below(m, 250));
    size_t room = sizeof o.b - o.n;
    switch (below(m, 5)) {
    case 0:         /* length 0: would loop forever if taken as a step */
    case 1: {       /* length 1: shorter than kind + length */
        uint8_t p[4] = {kind, (uint8_t)below(m, 2), 0, 0};
        opts_put(&o, p, 4);
        break;
    }
    case 2: {       /* runs past the header */
        uint8_t p[4] = {kind, (uint8_t)(4 + 1 + below(m, 251)), 0, 0};
        opts_put(&o, p, 4);
        break;
    }
    case 3: {       /* a known kind of the wrong length, within the header */
        uint32_t k = below(m, 5);
        uint8_t len = wrong_len[k][below(m, 4)];
        if (len > room)
            return false;
        uint8_t p[40] = {known[k], len};
        memset(p + 2, 0x5a, sizeof p - 2);
        opts_put(&o, p, len);
        break;
    }
    default: {      /* a kind byte alone at the very end of the header (o.n is 0 or 12) */
        uint8_t p[4] = {TCP_OPT_NOP, TCP_OPT_NOP, TCP_OPT_NOP, kind};
        opts_put(&o, p, 4);
        break;
    }
    }
    return hdr_set_opts(x->h, &o);
}

static bool set_ts_field(struct ctx *x, size_t field, uint32_t v)
{
    size_t at = find_opt(x->h, TCP_OPT_TS);
    if (!at || x->h->b[at + 1] != 10 || at + 10 > x->h->len)
        return false;
    put_be32(x->h->b + at + 2 + field, v);
    return true;
}

static bool mut_ts_past(struct ctx *x)
{
    uint32_t back = below(x->m, 2) ? 1 + below(x->m, 1000) : (1u << 20) + below(x->m, 1u << 30);
    return x->og->has_ts && set_ts_field(x, 0, x->og->tsval - back);
}

static bool mut_ts_future(struct ctx *x)
{
    const struct tcp_seg *og = x->og;
    if (!og->has_ts)
        return false;
    if (og->len == 0 && !(og->flags & (TCP_SYN | TCP_FIN)) && x->view->valid && below(x->m, 3) == 0) {
        /* Far ahead, on a segment whose sequence number lies far outside
         * the window: it must be dropped without touching TS.Recent. */
        put_be32(x->h->b + 4, x->view->rcv_nxt + (1u << 30) + below(x->m, 1u << 28));
        return set_ts_field(x, 0, og->tsval + (1u << 30));
    }
    return set_ts_field(x, 0, og->tsval + 1 + below(x->m, FUZZ_TS_FUTURE_MAX));
}

static bool mut_tsecr(struct ctx *x)
{
    const struct tcp_seg *og = x->og;
    if (!og->has_ts)
        return false;
    uint32_t v;
    switch (below(x->m, 5)) {
    case 0: v = 0; break;
    case 1: v = og->tsecr + 1 + below(x->m, 1u << 30); break;      /* from our future */
    case 2: v = og->tsecr - 1 - below(x->m, 100000); break;        /* an old echo */
    case 3: v = og->tsecr - (1u << 31); break;
    default: v = (uint32_t)rnd(x->m); break;
    }
    return set_ts_field(x, 4, v);
}

static bool mut_syn_opts(struct ctx *x)
{
    struct fuzz_mutator *m = x->m;
    struct hdr *h = x->h;
    uint8_t add[12];
    size_t n = 0;
    uint32_t which = 1 + below(m, 7);
    if (which & 1) {
        static const uint16_t mss[] = {0, 1, 88, 536, 1460, 65535};
        uint16_t v = below(m, 2) ? mss[below(m, 6)] : (uint16_t)rnd(m);
        add[n++] = TCP_OPT_MSS;
        add[n++] = 4;
        put_be16(add + n, v);
        n += 2;
    }
    if (which & 2) {
        add[n++] = TCP_OPT_NOP;
        add[n++] = TCP_OPT_WS;
        add[n++] = 3;
        add[n++] = (uint8_t)(below(m, 2) ? below(m, 20) : rnd(m));
    }
    if (which & 4) {
        add[n++] = TCP_OPT_NOP;
        add[n++] = TCP_OPT_NOP;
        add[n++] = TCP_OPT_SACK_PERM;
        add[n++] = 2;
    }
    if (h->len + n > TCP_MAX_HDR_LEN)
        return false;
    /* In front of the existing options (which end exactly at the header's end). */
    memmove(h->b + TCP_HDR_LEN + n, h->b + TCP_HDR_LEN, h->len - TCP_HDR_LEN);
    memcpy(h->b + TCP_HDR_LEN, add, n);
    h->len += n;
    hdr_set_doff(h);
    return true;
}

static bool mut_urg(struct ctx *x)
{
    struct fuzz_mutator *m = x->m;
    uint32_t len = x->og->len;
    uint16_t up;
    switch (below(m, 7)) {
    case 0: up = 0; break;
    case 1: up = 1; break;
    case 2: up = (uint16_t)len; break;
    case 3: up = (uint16_t)(len + 1); break;
    case 4: up = 0xffff; break;
    case 5: up = (uint16_t)(1 + below(m, len + 1)); break;
    default: up = (uint16_t)rnd(m); break;
    }
    x->h->b[13] |= TCP_URG;
    put_be16(x->h->b + 18, up);
    return true;
}

static bool mut_ack_beyond(struct ctx *x)
{
    struct fuzz_mutator *m = x->m;
    if (!x->view->valid || !(x->og->flags & TCP_ACK))
        return false;
    uint32_t ack;
    switch (below(m, 4)) {
    case 0: ack = x->view->snd_end + 1; break;
    case 1: ack = x->view->snd_end + 1 + below(m, 1448); break;
    case 2: ack = x->view->snd_end + 1 + below(m, 1u << 20); break;
    default: ack = x->view->snd_una - 1 - below(m, 1u << 30); break;    /* old, maybe very old */
    }
    put_be32(x->h->b + 8, ack);
    return true;
}

static bool mut_flags(struct ctx *x)
{
    uint8_t f = (uint8_t)rnd(x->m);
    x->h->b[13] = (uint8_t)((f & ~(TCP_FIN | TCP_RST)) | (x->og->flags & TCP_FIN));
    return true;
}

static bool mut_window(struct ctx *x)
{
    static const uint16_t w[] = {0, 1, 0xffff, 0x8000};
    uint16_t v;
    switch (below(x->m, 3)) {
    case 0: v = w[below(x->m, 4)]; break;
    case 1: v = (uint16_t)(x->og->wnd / 2); break;
    default: v = (uint16_t)rnd(x->m); break;
    }
    put_be16(x->h->b + 14, v);
    return true;
}

static bool mut_strip_opts(struct ctx *x)
{
    if (x->h->len == TCP_HDR_LEN)
        return false;
    struct opts o = {.n = 0};
    if (x->og->nsack && x->og->has_ts && below(x->m, 2))
        opts_put_ts(&o, x->og->tsval, x->og->tsecr);       /* only the SACK blocks go */
    return hdr_set_opts(x->h, &o);
}

typedef bool (*mut_fn)(struct ctx *x);
static const mut_fn mutators[FUZZ_BAD_CSUM] = {
    [FUZZ_FLIP_HDR] = mut_flip_hdr,     [FUZZ_FLIP_OPT] = mut_flip_opt,     [FUZZ_DOFF] = mut_doff,
    [FUZZ_SACK] = mut_sack,             [FUZZ_BAD_OPTLEN] = mut_bad_optlen, [FUZZ_TS_PAST] = mut_ts_past,
    [FUZZ_TS_FUTURE] = mut_ts_future,   [FUZZ_TSECR] = mut_tsecr,           [FUZZ_SYN_OPTS] = mut_syn_opts,
    [FUZZ_URG] = mut_urg,               [FUZZ_ACK_BEYOND] = mut_ack_beyond, [FUZZ_FLAGS] = mut_flags,
    [FUZZ_WINDOW] = mut_window,         [FUZZ_STRIP_OPTS] = mut_strip_opts,
};

/* ---- the veto (see the header) -------------------------------------------- */

static bool far_outside(uint32_t seq, uint32_t rcv_nxt)
{
    int32_t d = seq_diff(seq, rcv_nxt);
    return d > (1 << 29) || d < -(1 << 29);
}

static bool is_safe(const struct tcp_seg *og, const struct tcp_seg *ng, const struct fuzz_view *view,
                    bool rst_allowed)
{
    if ((ng->flags & TCP_RST) && !(og->flags & TCP_RST) && !rst_allowed)
        return false;
    if ((ng->flags & TCP_FIN) && (!(og->flags & TCP_FIN) || ng->seq != og->seq || ng->len != og->len))
        return false;
    if (ng->len && (ng->seq != og->seq || ng->len != og->len || memcmp(ng->data, og->data, ng->len) != 0))
        return false;
    if (ng->flags & TCP_ACK) {
        uint32_t max = view->valid ? view->snd_end : og->ack;
        if (seq_gt(ng->ack, og->ack) && seq_leq(ng->ack, max))
            return false;
    }
    if (ng->has_ts) {
        bool dropped_by_window = ng->len == 0 && view->valid && far_outside(ng->seq, view->rcv_nxt);
        if (!og->has_ts)
            return dropped_by_window;
        if (seq_gt(ng->tsval, og->tsval + FUZZ_TS_FUTURE_MAX) && !dropped_by_window)
            return false;
    }
    return true;
}

/* ---- the packet ------------------------------------------------------------ */

static void ip_fix(uint8_t *pkt, size_t ihl, size_t total)
{
    put_be16(pkt + 2, (uint16_t)total);
    put_be16(pkt + 10, 0);
    put_be16(pkt + 10, csum_fold(csum_partial(pkt, ihl, 0)));
}

/* An IPv4 packet carrying a TCP segment that parses, as both mutators
 * take it. */
struct frame {
    uint8_t *pkt, *seg;
    size_t ihl, total;
    uint32_t src, dst;
    struct tcp_seg og;
};

static bool frame_parse(struct fuzz_mutator *m, uint8_t *pkt, size_t len, struct frame *f)
{
    if (len < 20 || (pkt[0] >> 4) != 4 || pkt[9] != 6)
        return false;
    f->pkt = pkt;
    f->ihl = (size_t)(pkt[0] & 15) * 4;
    f->total = get_be16(pkt + 2);
    if (f->ihl < 20 || f->total > len || f->total < f->ihl + TCP_HDR_LEN || f->total - f->ihl > FUZZ_SEG_MAX)
        return false;
    f->src = get_be32(pkt + 12);
    f->dst = get_be32(pkt + 16);
    f->seg = pkt + f->ihl;
    enum tapir_drop_reason why;
    if (tcp_parse(f->seg, f->total - f->ihl, f->src, f->dst, &f->og, &why) < 0)
        return false;
    m->seen++;
    return true;
}

typedef bool (*frame_safe_fn)(const struct tcp_seg *og, const struct tcp_seg *ng,
                              const struct fuzz_view *view, bool rst_allowed);
#define FRAME_VETOED (-1L)

/* Put the mutated header h, the original payload and `extra` random bytes
 * in place of f's segment, with a right checksum, or a wrong one when
 * bad_csum. A segment the receiver will take is first checked by safe
 * (the veto rules): FRAME_VETOED, and the packet untouched, when it lies.
 * 0 when it does not fit; else the packet's new length. */
static long frame_rewrite(struct fuzz_mutator *m, size_t cap, const struct frame *f, const struct hdr *h,
                          uint32_t extra, bool bad_csum, frame_safe_fn safe, const struct fuzz_view *view,
                          bool rst_allowed)
{
    size_t newlen = h->len + f->og.len + extra;
    if (f->ihl + newlen > cap || newlen > FUZZ_SEG_MAX)
        return 0;
    uint8_t out[FUZZ_SEG_MAX];
    memcpy(out, h->b, h->len);
    memcpy(out + h->len, f->og.data, f->og.len);
    for (uint32_t i = 0; i < extra; i++)
        out[h->len + f->og.len + i] = (uint8_t)rnd(m);
    tcp_fill_checksum(out, newlen, f->src, f->dst);
    if (bad_csum) {
        out[16 + below(m, 2)] ^= (uint8_t)(1u << below(m, 8));
    } else {
        struct tcp_seg ng;
        enum tapir_drop_reason why;
        if (tcp_parse_csum(out, newlen, f->src, f->dst, false, &ng, &why) == 0) {
            if (!safe(&f->og, &ng, view, rst_allowed))
                return FRAME_VETOED;
            if ((ng.flags & TCP_URG) && ng.urp)
                m->urg_applied++;
        }
    }
    memcpy(f->seg, out, newlen);
    if (f->ihl + newlen != f->total)
        ip_fix(f->pkt, f->ihl, f->ihl + newlen);
    return (long)(f->ihl + newlen);
}

size_t fuzz_mutate(struct fuzz_mutator *m, uint8_t *pkt, size_t len, size_t cap, const struct fuzz_view *view)
{
    m->last_mutated = false;
    struct frame f;
    if (!frame_parse(m, pkt, len, &f))
        return len;
    const struct tcp_seg og = f.og;
    uint8_t *seg = f.seg;
    /* RSTs pass unchanged: the stacks answer segments sent to mutated
     * ports with RSTs to those ports, and flipping such a RST's port back
     * would forge a valid reset (a lie, like an injected RST). */
    if (og.flags & TCP_RST)
        return len;
    bool rst = m->rst_armed && (og.flags & TCP_ACK) && !(og.flags & (TCP_RST | TCP_SYN));
    int forced = m->force_kind;
    m->force_kind = -1;
    if (!rst && forced < 0 && (double)(rnd(m) >> 11) / (double)(1ull << 53) >= m->rate)
        return len;

    struct hdr h;
    h.len = og.hdr_len;
    memcpy(h.b, seg, h.len);
    struct ctx x = {.m = m, .og = &og, .view = view, .h = &h};
    enum fuzz_kind kind = FUZZ_RST;
    if (rst) {
        h.b[13] |= TCP_RST;
    } else if (forced >= 0 && forced < FUZZ_BAD_CSUM) {
        kind = (enum fuzz_kind)forced;
        x.comb = kind == FUZZ_SACK;
        if (!mutators[kind](&x))
            return len;
    } else {
        bool ok = false;
        for (int tries = 0; tries < 8 && !ok; tries++) {
            kind = (enum fuzz_kind)below(m, FUZZ_BAD_CSUM);
            if (below(m, 3) == 0) {
                /* Now and then the kind applied least so far, so every kind
                 * is exercised even in a short run. */
                for (int k = 0; k < FUZZ_BAD_CSUM; k++)
                    if (m->applied[k] < m->applied[kind])
                        kind = (enum fuzz_kind)k;
            }
            h.len = og.hdr_len;
            memcpy(h.b, seg, h.len);
            ok = mutators[kind](&x);
        }
        if (!ok)
            return len;
    }
    bool bad_csum = !rst && forced < 0 && below(m, 10) == 0;

    /* The new segment: mutated header, original payload. */
    long newlen = frame_rewrite(m, cap, &f, &h, 0, bad_csum, is_safe, view, rst);
    if (newlen == FRAME_VETOED)
        m->vetoed[kind]++;
    if (newlen <= 0)
        return len;
    if (rst)
        m->rst_armed = false;
    m->applied[bad_csum ? FUZZ_BAD_CSUM : kind]++;
    m->last_mutated = true;
    m->last_kind = bad_csum ? FUZZ_BAD_CSUM : kind;
    if (m->verbose) {
        fprintf(stderr, "fuzz: %s%s seq %u ack %u flags %02x len %u hl %u ->", kind_names[kind],
                bad_csum ? "+bad_csum" : "", og.seq, og.ack, og.flags, og.len, og.hdr_len);
        for (size_t i = 0; i < h.len; i++)
            fprintf(stderr, "%s%02x", i % 4 ? "" : " ", h.b[i]);
        fprintf(stderr, "\n");
    }
    return (size_t)newlen;
}

void fuzz_mutator_print(const struct fuzz_mutator *m, const char *prefix)
{
    unsigned long sum = 0;
    for (int k = 0; k < FUZZ__COUNT; k++)
        sum += m->applied[k];
    fprintf(stderr, "%s %lu of %lu TCP segments mutated:", prefix, sum, m->seen);
    for (int k = 0; k < FUZZ__COUNT; k++)
        fprintf(stderr, " %s=%lu(-%lu)", kind_names[k], m->applied[k], m->vetoed[k]);
    fprintf(stderr, "\n");
}

/* ---- the handshake and the close (fuzz_mutate_hs) ---------------------------- */

static const char *const hs_kind_names[FUZZ_HS__COUNT] = {
    [FUZZ_HS_MSS] = "hs_mss",               [FUZZ_HS_WSCALE] = "hs_wscale",
    [FUZZ_HS_SACKPERM_LEN] = "hs_sackperm_len", [FUZZ_HS_TS_ZERO] = "hs_ts_zero",
    [FUZZ_HS_OPT_REPEAT] = "hs_opt_repeat", [FUZZ_HS_EOL_NOP] = "hs_eol_nop",
    [FUZZ_HS_OPT_OVERRUN] = "hs_opt_overrun", [FUZZ_HS_SYN_DATA] = "hs_syn_data",
    [FUZZ_HS_SYN_FIN] = "hs_syn_fin",       [FUZZ_HS_SYN_RST] = "hs_syn_rst",
    [FUZZ_HS_ACK_ISS] = "hs_ack_iss",       [FUZZ_HS_SEQ_IRS] = "hs_seq_irs",
    [FUZZ_HS_SYN_REOPT] = "hs_syn_reopt",   [FUZZ_HS_FIN_SEQ] = "hs_fin_seq",
};

const char *fuzz_hs_kind_name(enum fuzz_hs_kind k) { return k < FUZZ_HS__COUNT ? hs_kind_names[k] : "?"; }

void fuzz_arm_syn_rst(struct fuzz_mutator *m) { m->syn_rst_armed = true; }

/* The options a SYN carries, to be rebuilt with some of them changed. */
struct synopt {
    int mss;                /* -1: none */
    int ws;                 /* -1: none */
    bool sack_perm, ts;
    uint32_t tsval, tsecr;
};

static struct synopt synopt_of(const struct tcp_seg *og)
{
    return (struct synopt){
        .mss = og->has_mss ? og->mss : -1,
        .ws = og->has_ws ? og->ws : -1,
        .sack_perm = og->sack_perm,
        .ts = og->has_ts,
        .tsval = og->tsval,
        .tsecr = og->tsecr,
    };
}

/* nops: NOPs put between the options (0 as a stack would send them). */
static bool synopt_put(struct opts *o, const struct synopt *so, unsigned nops)
{
    static const uint8_t nop[3] = {TCP_OPT_NOP, TCP_OPT_NOP, TCP_OPT_NOP};
    bool ok = true;
    if (so->mss >= 0) {
        uint8_t p[4] = {TCP_OPT_MSS, 4};
        put_be16(p + 2, (uint16_t)so->mss);
        ok = ok && opts_put(o, p, 4) && opts_put(o, nop, nops);
    }
    if (so->ws >= 0) {
        uint8_t p[4] = {TCP_OPT_NOP, TCP_OPT_WS, 3, (uint8_t)so->ws};
        ok = ok && opts_put(o, p, 4) && opts_put(o, nop, nops);
    }
    if (so->sack_perm) {
        uint8_t p[4] = {TCP_OPT_NOP, TCP_OPT_NOP, TCP_OPT_SACK_PERM, 2};
        ok = ok && opts_put(o, p, 4) && opts_put(o, nop, nops);
    }
    if (so->ts)
        ok = ok && opts_put_ts(o, so->tsval, so->tsecr);
    return ok;
}

/* The mutation being built: the header (ctx) and payload added to a SYN. */
struct hs_ctx {
    struct ctx x;
    uint32_t syn_data;      /* junk payload bytes appended (pure SYN only) */
};

static bool is_syn(const struct tcp_seg *g) { return (g->flags & TCP_SYN) != 0; }
static bool is_pure_syn(const struct tcp_seg *g) { return (g->flags & (TCP_SYN | TCP_ACK)) == TCP_SYN; }

static bool hs_mss(struct hs_ctx *hx)
{
    struct ctx *x = &hx->x;
    if (!is_syn(x->og))
        return false;
    static const uint16_t v[] = {0, 1, 64, 65535, 536};
    struct synopt so = synopt_of(x->og);
    so.mss = below(x->m, 4) ? v[below(x->m, 5)] : (uint16_t)rnd(x->m);
    struct opts o = {.n = 0};
    return synopt_put(&o, &so, 0) && hdr_set_opts(x->h, &o);
}

static bool hs_wscale(struct hs_ctx *hx)
{
    struct ctx *x = &hx->x;
    if (!is_syn(x->og))
        return false;
    static const uint8_t v[] = {14, 15, 255, 0};
    struct synopt so = synopt_of(x->og);
    so.ws = below(x->m, 4) ? v[below(x->m, 4)] : (uint8_t)rnd(x->m);
    struct opts o = {.n = 0};
    return synopt_put(&o, &so, 0) && hdr_set_opts(x->h, &o);
}

static bool hs_sackperm_len(struct hs_ctx *hx)
{
    struct ctx *x = &hx->x;
    if (!is_syn(x->og))
        return false;
    struct synopt so = synopt_of(x->og);
    so.sack_perm = false;
    struct opts o = {.n = 0};
    if (!synopt_put(&o, &so, 0))
        return false;
    static const uint8_t len[] = {0, 1, 3, 4};
    if (below(x->m, 4)) {
        uint8_t p[4] = {TCP_OPT_NOP, TCP_OPT_NOP, TCP_OPT_SACK_PERM, len[below(x->m, 4)]};
        if (p[3] == 4) {
            p[0] = TCP_OPT_SACK_PERM;       /* kind, length 4, two bytes of junk */
            p[1] = 4;
            p[2] = 0x5a;
            p[3] = 0xa5;
        }
        if (!opts_put(&o, p, 4))
            return false;
    } else {
        /* The last two bytes of the header, claiming more. */
        uint8_t p[4] = {TCP_OPT_NOP, TCP_OPT_NOP, TCP_OPT_SACK_PERM, (uint8_t)(3 + below(x->m, 40))};
        if (!opts_put(&o, p, 4))
            return false;
    }
    return hdr_set_opts(x->h, &o);
}

static bool hs_ts_zero(struct hs_ctx *hx)
{
    struct ctx *x = &hx->x;
    if (!x->og->has_ts)
        return false;
    switch (below(x->m, 3)) {
    case 0: return set_ts_field(x, 0, 0);
    case 1: return set_ts_field(x, 4, 0);
    default: return set_ts_field(x, 0, 0) && set_ts_field(x, 4, 0);
    }
}

static bool hs_opt_repeat(struct hs_ctx *hx)
{
    struct ctx *x = &hx->x;
    if (!is_syn(x->og))
        return false;
    struct synopt so = synopt_of(x->og);
    struct opts o = {.n = 0};
    if (!synopt_put(&o, &so, 0))
        return false;
    struct synopt again = {.mss = -1, .ws = -1};
    switch (below(x->m, 4)) {
    case 0: again.mss = 1 + (int)below(x->m, 65535); break;
    case 1: again.ws = (int)below(x->m, 16); break;
    case 2: again.sack_perm = true; break;
    default:
        if (!so.ts)
            return false;
        again.ts = true;
        again.tsval = so.tsval - below(x->m, 1000);        /* never ahead (veto) */
        again.tsecr = (uint32_t)rnd(x->m);
        break;
    }
    /* The copy in front or behind: parsers differ on which one counts. */
    struct opts both = {.n = 0};
    if (below(x->m, 2))
        return synopt_put(&both, &again, 0) && opts_put(&both, o.b, o.n) && hdr_set_opts(x->h, &both);
    return synopt_put(&o, &again, 0) && hdr_set_opts(x->h, &o);
}

static bool hs_eol_nop(struct hs_ctx *hx)
{
    struct ctx *x = &hx->x;
    struct hdr *h = x->h;
    struct synopt so = synopt_of(x->og);
    struct opts o = {.n = 0};
    switch (below(x->m, 4)) {
    case 0: {           /* EOL first: every option after it is ignored */
        uint8_t eol[4] = {TCP_OPT_EOL, TCP_OPT_EOL, TCP_OPT_EOL, TCP_OPT_EOL};
        if (!opts_put(&o, eol, 1 + below(x->m, 4)))
            return false;
        if (is_syn(x->og) ? !synopt_put(&o, &so, 0) : !opts_put(&o, h->b + TCP_HDR_LEN, h->len - TCP_HDR_LEN))
            return false;
        break;
    }
    case 1: {           /* the options, EOL, then junk up to the header's end */
        if (is_syn(x->og) ? !synopt_put(&o, &so, 0) : !opts_put(&o, h->b + TCP_HDR_LEN, h->len - TCP_HDR_LEN))
            return false;
        uint8_t junk[40];
        junk[0] = TCP_OPT_EOL;
        for (size_t i = 1; i < sizeof junk; i++)
            junk[i] = (uint8_t)(1 + below(x->m, 255));
        size_t room = sizeof o.b - o.n;
        size_t n = 1 + below(x->m, (uint32_t)(room > 0 ? room : 1));
        if (room == 0 || !opts_put(&o, junk, n))
            return false;
        break;
    }
    case 2: {           /* NOPs only: as if no option was sent */
        uint8_t nops[40];
        memset(nops, TCP_OPT_NOP, sizeof nops);
        if (!opts_put(&o, nops, 4 * (1 + below(x->m, 10))))
            return false;
        break;
    }
    default:            /* NOP runs between the options */
        if (!is_syn(x->og) || !synopt_put(&o, &so, 1 + below(x->m, 3)))
            return false;
        break;
    }
    return hdr_set_opts(h, &o);
}

static bool hs_opt_overrun(struct hs_ctx *hx)
{
    struct ctx *x = &hx->x;
    struct synopt so = synopt_of(x->og);
    struct opts o = {.n = 0};
    if (is_syn(x->og)) {
        so.ts = so.ts && below(x->m, 2);
        if (!synopt_put(&o, &so, 0))
            return false;
    }
    /* NOPs so that the last option's kind and length are the header's
     * last two bytes; its length claims more. */
    while (o.n % 4 != 2) {
        uint8_t nop = TCP_OPT_NOP;
        if (!opts_put(&o, &nop, 1))
            return false;
    }
    static const uint8_t kinds[] = {TCP_OPT_MSS, TCP_OPT_WS, TCP_OPT_TS, TCP_OPT_SACK, 77};
    static const uint8_t lens[] = {4, 3, 10, 10, 6};
    uint32_t k = below(x->m, 5);
    uint8_t p[2] = {kinds[k], (uint8_t)(lens[k] + below(x->m, 3))};
    return opts_put(&o, p, 2) && hdr_set_opts(x->h, &o);
}

static bool hs_syn_data(struct hs_ctx *hx)
{
    if (!is_pure_syn(hx->x.og) || hx->x.og->len || !hx->x.view->rcv_listen)
        return false;
    hx->syn_data = 1 + below(hx->x.m, 200);
    return true;
}

static bool hs_syn_fin(struct hs_ctx *hx)
{
    if (!is_pure_syn(hx->x.og) || !hx->x.view->rcv_listen)
        return false;
    hx->x.h->b[13] |= TCP_FIN;
    return true;
}

static bool hs_syn_rst(struct hs_ctx *hx)
{
    if (!is_syn(hx->x.og) || !hx->x.m->syn_rst_armed)
        return false;
    hx->x.h->b[13] |= TCP_RST;
    return true;
}

static uint32_t off_by_small(struct fuzz_mutator *m)
{
    static const int32_t d[] = {-2, -1, 1, 2};
    return (uint32_t)d[below(m, 4)];
}

static bool hs_ack_iss(struct hs_ctx *hx)
{
    struct ctx *x = &hx->x;
    if (!(x->og->flags & TCP_ACK))
        return false;
    put_be32(x->h->b + 8, x->og->ack + off_by_small(x->m));
    return true;
}

static bool hs_seq_irs(struct hs_ctx *hx)
{
    struct ctx *x = &hx->x;
    /* Data or a SYN,ACK at another place is a lie the veto refuses. */
    if (x->og->len || (is_syn(x->og) && (x->og->flags & TCP_ACK)))
        return false;
    put_be32(x->h->b + 4, x->og->seq + off_by_small(x->m));
    return true;
}

static bool hs_syn_reopt(struct hs_ctx *hx)
{
    struct ctx *x = &hx->x;
    if (!is_syn(x->og))
        return false;
    struct fuzz_mutator *m = x->m;
    struct synopt so = synopt_of(x->og);
    static const int mss[] = {-1, 64, 536, 1000, 1460, 9000};
    so.mss = mss[below(m, 6)];
    so.ws = below(m, 3) ? so.ws : (so.ws >= 0 ? -1 : (int)below(m, 15));
    if (so.ws >= 0 && below(m, 2))
        so.ws = (int)below(m, 15);
    so.sack_perm = below(m, 3) ? so.sack_perm : !so.sack_perm;
    so.ts = below(m, 3) ? so.ts : false;
    struct opts o = {.n = 0};
    return synopt_put(&o, &so, 0) && hdr_set_opts(x->h, &o);
}

static bool hs_fin_seq(struct hs_ctx *hx)
{
    struct ctx *x = &hx->x;
    const struct tcp_seg *og = x->og;
    if (!(og->flags & TCP_FIN) || og->len)
        return false;
    uint32_t seq;
    switch (below(x->m, 4)) {
    case 0: seq = og->seq + 1; break;                           /* one past the real FIN */
    case 1: seq = og->seq - 1 - below(x->m, 3); break;          /* before it (an old one, or a lie) */
    case 2: seq = og->seq + (1u << 30) + below(x->m, 1000); break;  /* far out of the window */
    default: seq = og->seq + 1 + below(x->m, 70000); break;     /* vetoed unless out of the window */
    }
    put_be32(x->h->b + 4, seq);
    return true;
}

typedef bool (*hs_fn)(struct hs_ctx *hx);
static const hs_fn hs_mutators[FUZZ_HS__COUNT] = {
    [FUZZ_HS_MSS] = hs_mss,                 [FUZZ_HS_WSCALE] = hs_wscale,
    [FUZZ_HS_SACKPERM_LEN] = hs_sackperm_len, [FUZZ_HS_TS_ZERO] = hs_ts_zero,
    [FUZZ_HS_OPT_REPEAT] = hs_opt_repeat,   [FUZZ_HS_EOL_NOP] = hs_eol_nop,
    [FUZZ_HS_OPT_OVERRUN] = hs_opt_overrun, [FUZZ_HS_SYN_DATA] = hs_syn_data,
    [FUZZ_HS_SYN_FIN] = hs_syn_fin,         [FUZZ_HS_SYN_RST] = hs_syn_rst,
    [FUZZ_HS_ACK_ISS] = hs_ack_iss,         [FUZZ_HS_SEQ_IRS] = hs_seq_irs,
    [FUZZ_HS_SYN_REOPT] = hs_syn_reopt,     [FUZZ_HS_FIN_SEQ] = hs_fin_seq,
};

/* The veto of fuzz_mutate_hs (see the header). */
static bool is_safe_hs(const struct tcp_seg *og, const struct tcp_seg *ng, const struct fuzz_view *view,
                       bool rst_allowed)
{
    bool syn_to_listener = is_pure_syn(ng) && view->rcv_listen;
    if ((ng->flags & TCP_RST) && !(og->flags & TCP_RST) && !rst_allowed)
        return false;
    /* A segment from the sender's future: accepted (in the window), its
     * SEQ becomes SND.WL1 (RFC 9293 3.10.7.4) and the sender's real
     * window updates, older, are ignored. The receiver takes the window
     * again from the next ACK of new data (tcp_input.c, as Linux), which
     * comes as soon as the sender accepts anything: a probe into a zero
     * window that opened, data sent into a window that lied small. One
     * case stays: the lie opens a window that is really zero. The
     * receiver then sends into it, the sender accepts nothing and
     * acknowledges nothing new, its zero windows are ignored, and
     * retransmissions (not persist probes) run until the window really
     * opens, or out (ETIMEDOUT). A FIN one past its real place, or a
     * segment dropped out of the window, is harmless. */
    bool fin_one_past = (og->flags & TCP_FIN) && ng->seq == og->seq + og->len + 1;
    bool opens_zero_window = og->wnd == 0 && ng->wnd != 0;
    if (!is_syn(ng) && (ng->flags & TCP_ACK) && seq_gt(ng->seq, og->seq) && opens_zero_window && !fin_one_past &&
        !(view->valid && far_outside(ng->seq, view->rcv_nxt)))
        return false;
    if ((ng->flags & TCP_FIN) && (!(og->flags & TCP_FIN) || ng->seq != og->seq || ng->len != og->len)) {
        bool moved_harmless = (og->flags & TCP_FIN) && ng->len == 0 &&
                              (seq_gt(ng->seq, og->seq + og->len) ||
                               (view->valid && seq_lt(ng->seq, view->rcv_nxt)));
        if (!syn_to_listener && !moved_harmless)
            return false;
    }
    if (ng->len && (ng->seq != og->seq || ng->len != og->len || memcmp(ng->data, og->data, ng->len) != 0) &&
        !syn_to_listener)
        return false;
    if (ng->flags & TCP_ACK) {
        uint32_t max = view->valid ? view->snd_end : view->iss_known ? view->iss + 1 : og->ack + (1u << 30);
        if (seq_gt(ng->ack, og->ack) && seq_leq(ng->ack, max))
            return false;
        /* Moved onto the one number an end whose SYN is not acknowledged
         * yet accepts (a SYN,ACK answering a SYN whose ISN was changed). */
        if (view->iss_known && ng->ack != og->ack && ng->ack == view->iss + 1)
            return false;
    }
    if (ng->has_ts) {
        bool dropped_by_window = ng->len == 0 && view->valid && far_outside(ng->seq, view->rcv_nxt);
        if (!og->has_ts)
            return dropped_by_window;
        if (seq_gt(ng->tsval, og->tsval + FUZZ_TS_FUTURE_MAX) && !dropped_by_window)
            return false;
    }
    if (is_syn(ng)) {
        /* The receiver takes a SYN,ACK's sequence number as IRS. */
        if (is_syn(og) && (og->flags & TCP_ACK) && ng->seq != og->seq)
            return false;
        /* A SYN made from a segment that was none, to a connection in
         * SYN_SENT: an IRS the sender never chose. */
        if (!is_syn(og) && (view->rcv_syn_sent || (ng->flags & TCP_ACK)))
            return false;
        /* Options the sender never offered: the receiver would turn on
         * what the sender then refuses (RFC 7323 3.2, RFC 2018 2). */
        if ((ng->has_ts && !og->has_ts) || (ng->sack_perm && !og->sack_perm) || (ng->has_ws && !og->has_ws))
            return false;
        bool binding = (ng->flags & TCP_ACK) || view->rcv_syn_sent;
        if (binding && (ng->has_ts != og->has_ts || ng->sack_perm != og->sack_perm || ng->has_ws != og->has_ws))
            return false;
    }
    return true;
}

size_t fuzz_mutate_hs(struct fuzz_mutator *m, uint8_t *pkt, size_t len, size_t cap, const struct fuzz_view *view)
{
    m->last_mutated = false;
    m->last_hs = false;
    struct frame f;
    if (!frame_parse(m, pkt, len, &f))
        return len;
    const struct tcp_seg og = f.og;
    uint8_t *seg = f.seg;
    if (og.flags & TCP_RST)
        return len;         /* as fuzz_mutate: never mutate a RST */
    bool rst = m->rst_armed && (og.flags & TCP_ACK) && !(og.flags & TCP_SYN);
    bool syn_rst = m->syn_rst_armed && is_syn(&og);
    if (!rst && !syn_rst && (double)(rnd(m) >> 11) / (double)(1ull << 53) >= m->rate)
        return len;

    struct hdr h;
    h.len = og.hdr_len;
    memcpy(h.b, seg, h.len);
    struct hs_ctx hx = {.x = {.m = m, .og = &og, .view = view, .h = &h}};
    bool hs = false;
    int kind = FUZZ_RST;
    if (rst) {
        h.b[13] |= TCP_RST;
    } else if (syn_rst) {
        hs = true;
        kind = FUZZ_HS_SYN_RST;
        if (!hs_syn_rst(&hx))
            return len;
    } else {
        /* SYNs and FINs mostly meet the handshake kinds, other segments
         * mostly the general ones. */
        hs = (og.flags & (TCP_SYN | TCP_FIN)) ? below(m, 4) != 0 : below(m, 3) == 0;
        bool ok = false;
        for (int tries = 0; tries < 12 && !ok; tries++) {
            if (tries == 6)
                hs = !hs;
            int n = hs ? FUZZ_HS__COUNT : FUZZ_BAD_CSUM;
            const unsigned long *applied = hs ? m->hs_applied : m->applied;
            kind = (int)below(m, (uint32_t)n);
            if (below(m, 3) == 0) {
                /* Now and then the kind applied least so far. */
                for (int k = 0; k < n; k++)
                    if (applied[k] < applied[kind])
                        kind = k;
            }
            h.len = og.hdr_len;
            memcpy(h.b, seg, h.len);
            hx.syn_data = 0;
            if (hs && kind == FUZZ_HS_SYN_RST)
                continue;       /* only when armed */
            ok = hs ? hs_mutators[kind](&hx) : mutators[kind](&hx.x);
        }
        if (!ok)
            return len;
    }
    bool bad_csum = !rst && !syn_rst && below(m, 10) == 0;

    long newlen = frame_rewrite(m, cap, &f, &h, hx.syn_data, bad_csum, is_safe_hs, view,
                                rst || syn_rst);
    if (newlen == FRAME_VETOED) {
        if (hs)
            m->hs_vetoed[kind]++;
        else
            m->vetoed[kind]++;
    }
    if (newlen <= 0)
        return len;
    if (rst)
        m->rst_armed = false;
    if (syn_rst)
        m->syn_rst_armed = false;
    if (bad_csum)
        m->applied[FUZZ_BAD_CSUM]++;
    else if (hs)
        m->hs_applied[kind]++;
    else
        m->applied[kind]++;
    m->last_mutated = true;
    m->last_hs = hs && !bad_csum;
    m->last_hs_kind = kind;
    m->last_kind = bad_csum ? FUZZ_BAD_CSUM : hs ? FUZZ__COUNT : (enum fuzz_kind)kind;
    if (m->verbose) {
        fprintf(stderr, "fuzz: %s%s seq %u ack %u flags %02x len %u hl %u ->",
                hs ? hs_kind_names[kind] : kind_names[kind], bad_csum ? "+bad_csum" : "", og.seq, og.ack, og.flags,
                og.len, og.hdr_len);
        for (size_t i = 0; i < h.len; i++)
            fprintf(stderr, "%s%02x", i % 4 ? "" : " ", h.b[i]);
        fprintf(stderr, " +%u\n", hx.syn_data);
    }
    return (size_t)newlen;
}

void fuzz_mutator_print_hs(const struct fuzz_mutator *m, const char *prefix)
{
    fuzz_mutator_print(m, prefix);
    fprintf(stderr, "%s handshake kinds:", prefix);
    for (int k = 0; k < FUZZ_HS__COUNT; k++)
        fprintf(stderr, " %s=%lu(-%lu)", hs_kind_names[k], m->hs_applied[k], m->hs_vetoed[k]);
    fprintf(stderr, "\n");
}
