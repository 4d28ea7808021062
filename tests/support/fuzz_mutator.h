/* fuzz_mutator: mutates the TCP header and options of IPv4 packets in
 * flight between two stacks (tests/sim/test_tcp_fuzz_live.c), never the
 * payload, and recomputes the checksums so the mutation reaches the TCP
 * machinery (now and then the TCP checksum is left wrong on purpose).
 *
 * Mutations are blind (bit flips in the fixed header or in the option
 * bytes, a random data offset) and structure-aware (SACK blocks around the
 * receiver's SND.UNA..SND.MAX, bogus option lengths, timestamps in the past
 * or the future, SYN-only options on other segments, urgent pointers, ACK
 * numbers just beyond SND.MAX, flag combinations, windows, header padding,
 * stripped options).
 *
 * A network that lies with a valid checksum can make any transfer fail
 * (acknowledge bytes never received, move data to another sequence number,
 * announce an early FIN). Those lies test nothing about robustness, so
 * every mutated segment is parsed again (tcp_parse_csum, as the receiver
 * will) and VETOED, sent unchanged, when it would:
 *  - carry payload other than the original's bytes at the original SEG.SEQ
 *    (a changed seq or data offset of a data segment);
 *  - carry a FIN the original did not carry at the same place;
 *  - carry RST (unless fuzz_arm_rst() asked for one); RSTs themselves are
 *    never mutated (a RST answering a segment sent to a mutated port would
 *    become a valid reset with its port flipped back);
 *  - acknowledge more than the original, up to the receiver's snd_end (an
 *    ACK beyond SND.MAX is fine: RFC 9293 3.10.7.4 drops it);
 *  - carry a TSval more than FUZZ_TS_FUTURE_MAX ticks ahead of the
 *    original's on a segment the receiver may accept (RFC 7323 5.3 R3
 *    would take it as TS.Recent and PAWS would then drop the peer's real
 *    segments for as long as the lie is ahead).
 * Segments the receiver must drop as malformed are never vetoed.
 * Vetoes are counted per kind; only applied mutations count as applied.
 */
#ifndef TAPIR_TEST_FUZZ_MUTATOR_H
#define TAPIR_TEST_FUZZ_MUTATOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum fuzz_kind {
    FUZZ_FLIP_HDR,      /* 1-3 random bit flips in the 20-byte header */
    FUZZ_FLIP_OPT,      /* 1-3 random bit flips in the option bytes */
    FUZZ_DOFF,          /* data offset: random, below 5, or padded header */
    FUZZ_SACK,          /* SACK blocks rewritten to edge/random ranges */
    FUZZ_BAD_OPTLEN,    /* an option of length 0, 1, past the header, odd */
    FUZZ_TS_PAST,       /* TSval far in the past (PAWS drop) */
    FUZZ_TS_FUTURE,     /* TSval a little ahead, or far ahead out of window */
    FUZZ_TSECR,         /* TSecr random, 0, ahead, behind */
    FUZZ_SYN_OPTS,      /* MSS / window scale / SACK-permitted on a non-SYN */
    FUZZ_URG,           /* URG with a random urgent pointer */
    FUZZ_ACK_BEYOND,    /* SEG.ACK just beyond SND.MAX, or far behind */
    FUZZ_FLAGS,         /* random flags (never a new FIN or RST) */
    FUZZ_WINDOW,        /* window 0, 1, 65535, random */
    FUZZ_STRIP_OPTS,    /* all options, or only the SACK blocks, removed */
    FUZZ_BAD_CSUM,      /* (on top of another kind) TCP checksum left wrong */
    FUZZ_RST,           /* one RST, only when armed */
    FUZZ__COUNT
};

/* Kinds of fuzz_mutate_hs() (the handshake and the close; see the end of
 * this file). */
enum fuzz_hs_kind {
    FUZZ_HS_MSS,            /* MSS 0, 1, 64, 65535, random */
    FUZZ_HS_WSCALE,         /* window scale 14, 15, 255, random */
    FUZZ_HS_SACKPERM_LEN,   /* SACK-permitted of length 0, 1, 3, 4, or past the header */
    FUZZ_HS_TS_ZERO,        /* TSval and/or TSecr 0 */
    FUZZ_HS_OPT_REPEAT,     /* MSS, window scale, SACK-permitted or TSopt twice, other values */
    FUZZ_HS_EOL_NOP,        /* EOL first, EOL then junk, NOPs only, NOP runs between options */
    FUZZ_HS_OPT_OVERRUN,    /* the last option runs past the header */
    FUZZ_HS_SYN_DATA,       /* payload on a pure SYN */
    FUZZ_HS_SYN_FIN,        /* SYN+FIN */
    FUZZ_HS_SYN_RST,        /* SYN+RST, only when armed */
    FUZZ_HS_ACK_ISS,        /* SEG.ACK off by one or two around the receiver's ISS+1 */
    FUZZ_HS_SEQ_IRS,        /* SEG.SEQ off by one or two (a SYN's ISN, an ACK around IRS) */
    FUZZ_HS_SYN_REOPT,      /* a SYN's options rebuilt (sent beside the original: a retransmitted SYN that differs) */
    FUZZ_HS_FIN_SEQ,        /* a FIN at another sequence number */
    FUZZ_HS__COUNT
};

/* TSval "a little ahead": at most this many ticks (1 ms each) over the
 * sender's clock, so a poisoned TS.Recent heals within a second. */
#define FUZZ_TS_FUTURE_MAX 500u

/* What the mutator knows of the connection that receives the packet (its
 * send and receive sequence space); valid false: nothing (no ACK_BEYOND,
 * SACK blocks around the segment's own ACK). snd_end: the highest SND.MAX
 * the receiver will ever reach (its ISS + 1 + every byte its application
 * will send + 1 for the FIN). SND.MAX grows while a packet is in flight,
 * so "beyond SND.MAX" is judged against snd_end: an ACK past snd_end stays
 * past SND.MAX whenever it arrives, and is "just beyond" once the
 * receiver has sent everything. */
struct fuzz_view {
    bool valid;
    uint32_t snd_una, snd_max, snd_end;
    uint32_t rcv_nxt;
    /* For fuzz_mutate_hs(): what receives a SYN. rcv_listen: no
     * connection, a listener takes it (SYN data is not kept there and
     * SYN+FIN is dropped). rcv_syn_sent: a connection in SYN_SENT
     * (simultaneous open) takes the SYN's options as final. */
    bool rcv_listen, rcv_syn_sent;
    /* The receiver's ISS, when its SYN is not acknowledged yet (SYN_SENT,
     * SYN_RECEIVED): ISS + 1 is the one ACK it accepts, so an ACK moved
     * onto it acknowledges a SYN the other end never received. With valid
     * false and iss_known false nothing is known of the receiver's
     * sequence space, and fuzz_mutate_hs vetoes every raised ACK up to
     * 2^30 above the original's. */
    bool iss_known;
    uint32_t iss;
};

struct fuzz_mutator {
    uint64_t rng;
    double rate;                        /* fraction of TCP segments mutated */
    bool rst_armed;                     /* the next mutated-eligible segment gets RST */
    unsigned long seen;                 /* TCP segments looked at */
    unsigned long applied[FUZZ__COUNT];
    unsigned long vetoed[FUZZ__COUNT];
    unsigned long urg_applied;          /* URG on with a nonzero pointer (any kind) */
    bool verbose;                       /* print every applied mutation (env FUZZ_VERBOSE) */
    bool last_mutated;                  /* the last fuzz_mutate() changed the packet */
    enum fuzz_kind last_kind;           /* ... by this kind */
    int force_kind;                     /* >= 0: the next fuzz_mutate() applies this kind (comb SACK blocks for FUZZ_SACK) */
    /* fuzz_mutate_hs() only (see below). */
    bool syn_rst_armed;                 /* the next SYN that passes gets RST too */
    unsigned long hs_applied[FUZZ_HS__COUNT], hs_vetoed[FUZZ_HS__COUNT];
    bool last_hs;                       /* the last mutation was of a fuzz_hs_kind ... */
    int last_hs_kind;                   /* ... this one */
};

void fuzz_mutator_init(struct fuzz_mutator *m, uint64_t seed, double rate);
/* Put RST on the next TCP segment carrying ACK that passes (one shot). */
void fuzz_arm_rst(struct fuzz_mutator *m);
/* Maybe mutate the IPv4 packet pkt (len bytes; the buffer holds cap) on
 * its way to the stack described by view. Returns the new length (options
 * may be added); non-TCP and malformed packets pass unchanged. */
size_t fuzz_mutate(struct fuzz_mutator *m, uint8_t *pkt, size_t len, size_t cap, const struct fuzz_view *view);
const char *fuzz_kind_name(enum fuzz_kind k);
/* The mutator's generator, for the caller's own choices (same seed, same run). */
uint64_t fuzz_rand(struct fuzz_mutator *m);
/* One line per kind: applied/vetoed. */
void fuzz_mutator_print(const struct fuzz_mutator *m, const char *prefix);

/* ---- the handshake and the close (tests/sim/test_tcp_fuzz_handshake.c) ----
 *
 * fuzz_mutate_hs() mutates like fuzz_mutate() (and with its kinds, at
 * m->rate) but also with kinds aimed at SYN, SYN,ACK, FIN and the ACKs
 * around them. Its veto keeps fuzz_mutate()'s rules and adds the lies a
 * handshake cannot survive:
 *  - a SYN,ACK whose sequence number changed (the receiver would take the
 *    lie as IRS and every byte after it would land at the wrong place; a
 *    changed ISN on a pure SYN is fine: the SYN,ACK answering it
 *    acknowledges a number the sender never used, and is refused);
 *  - a SYN that gains timestamps, SACK-permitted or window scale its
 *    sender did not offer, or whose options are taken as final by the
 *    receiver (a SYN,ACK, or a SYN to a connection in SYN_SENT) and that
 *    loses one: the ends would disagree on what was negotiated (with
 *    timestamps, RFC 7323 3.2 then drops every segment of the end that
 *    thinks they are off). A pure SYN to a listener may lose them: the
 *    SYN,ACK then tells the truth about them.
 *  - an ACK raised up to the receiver's SND.MAX, or changed to exactly
 *    ISS + 1 while the receiver's SYN is not acknowledged (fuzz_view.iss;
 *    SYN_SENT, or SYN_RECEIVED in a simultaneous open): with a SYN whose
 *    ISN was changed, the SYN,ACK acknowledging the changed ISN, moved by
 *    as much, would acknowledge the real one and the ends would be
 *    established on different numbers (the fuzzer found all three);
 *  - a segment with ACK whose SEG.SEQ moved ahead of the original's,
 *    within the receiver's reach, and whose window is open where the
 *    original's is zero: its SEQ becomes the receiver's SND.WL1 (RFC
 *    9293 3.10.7.4), the sender's real zero windows (older SEQ, nothing
 *    new acknowledged) are ignored, and the receiver retransmits into the
 *    closed window, without persist probes, until it opens or the retries
 *    run out. Other windows with SEQ ahead are allowed: tcp_input.c takes
 *    the window from every ACK of new data too, so the next one undoes
 *    the lie (before it did, the fuzzer saw a flipped SEQ and window on a
 *    handshake ACK leave the server probing a zero window byte by byte
 *    for 20 minutes);
 *  - a SYN made of a segment that was none, to a connection in SYN_SENT
 *    or carrying ACK (an IRS the sender never chose);
 * and allows lies that are harmless by construction:
 *  - data on a pure SYN, SYN+FIN, to a listener (RFC 9293 3.10.7.2: SYN
 *    data is queued; tapir, as Linux without TFO, does not acknowledge
 *    it, so the sender sends it again; SYN+FIN is dropped);
 *  - a FIN moved (no payload) one past the end of the original's
 *    sequence space or out of the window (the receiver waits for the real
 *    FIN first), or below the receiver's RCV.NXT (an old FIN, ignored);
 *  - SYN+RST, only when armed (fuzz_arm_syn_rst). */
const char *fuzz_hs_kind_name(enum fuzz_hs_kind k);
/* SYN+RST on the next SYN that passes (one shot). */
void fuzz_arm_syn_rst(struct fuzz_mutator *m);
/* fuzz_mutate() with the handshake kinds besides (see above): m->rate of
 * the TCP segments mutated, a SYN or FIN mostly by a handshake kind. */
size_t fuzz_mutate_hs(struct fuzz_mutator *m, uint8_t *pkt, size_t len, size_t cap, const struct fuzz_view *view);
/* fuzz_mutator_print() and the handshake kinds. */
void fuzz_mutator_print_hs(const struct fuzz_mutator *m, const char *prefix);

#endif
