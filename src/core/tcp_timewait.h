/* Compact TIME_WAIT records (tcp_timewait.c).
 *
 * An orphan (its owner closed it) that reaches TIME_WAIT has nothing left
 * to send or deliver: for 2*MSL (RFC 9293 3.4.2, 3.6.1) it only answers a
 * retransmitted FIN, refuses old duplicates and keeps its 4-tuple and
 * local port from being reused. A struct tcp_conn (about 1.2 kB) is far
 * more than that needs, so once its owed ACK is out it is replaced by a
 * struct tcp_tw of 120 bytes, taken from a per-stack slab: the record holds
 * the connection's place in the 4-tuple lookup and its local-port
 * reference, and the tcp_conn goes back to the spare pool.
 *
 * Expiry: every record lives 2*MSL from its last (re)start, so the records
 * form a FIFO ordered by expiry (appended at the tail); the stack's next
 * deadline includes the FIFO's head, and poll expires what is due with the
 * state-hook event the full connection gave ("2MSL timer").
 *
 * A segment for a record (RFC 9293 3.10.7.4 in TIME_WAIT, RFC 1337, RFC
 * 7323 5.3 PAWS, RFC 9293 3.6.1 reopening by a SYN) is processed by the
 * normal input path: the record is inflated back into a tcp_conn holding
 * the same values (tcp_tw_inflate), which takes its place in the table,
 * and at the end of the segment's processing that connection, if it is
 * still an orphan in TIME_WAIT, is compacted again into the same record
 * (which kept its place in the FIFO unless the 2*MSL timer restarted).
 *
 * Not kept, since nothing in TIME_WAIT can use it (every ACK that arrives
 * acknowledges nothing new, and nothing is left to send): congestion and
 * RTT state, the SACK scoreboard, SND.WND, the undo state of tcp_undo.c.
 * The one trace of the last: a late D-SACK that completes an old fast
 * retransmit's undo episode (RFC 3708) counted tcp_undos on the full
 * connection and does not on a record. */
#ifndef TAPIR_CORE_TCP_TIMEWAIT_H
#define TAPIR_CORE_TCP_TIMEWAIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tapir/tapir.h"

struct tapir_stack;
struct tcp_conn;
struct tcp_state;
struct tcp_tw_block;

/* What TIME_WAIT needs of a connection, and nothing more. */
struct tcp_tw {
    struct tcp_tw *hnext;               /* 4-tuple chain; the block's free list while free */
    struct tcp_tw *fnext, *fprev;       /* the expiry FIFO */
    struct tcp_tw_block *blk;           /* the slab block it lives in */
    const void *ident;                  /* the state hook's conn (tapir.h) */
    tapir_time_t expire_at;             /* the end of 2*MSL */
    tapir_time_t ts_recent_age;         /* RFC 7323 5.5 */
    tapir_time_t oow_ack_next;          /* tcp_ack_unacceptable's rate limit */
    uint32_t rip;                       /* host order; the local address is the stack's */
    uint32_t iss;
    uint32_t snd_nxt;                   /* SND.UNA = SND.NXT = SND.MAX (our FIN is acknowledged) */
    uint32_t rcv_nxt, rcv_adv;          /* RCV.NXT, the right edge we announced */
    /* The peer's window as step 5 keeps it (RFC 9293 3.10.7.4): SND.WL1,
     * SND.WL2 decide whether a segment updates it, and the largest one
     * bounds the ACKs still taken as real (RFC 5961 5.2). */
    uint32_t max_sndwnd, snd_wl1, snd_wl2;
    uint32_t ts_offset, ts_recent, last_ack_sent;   /* RFC 7323 4.3, 5.3 */
    uint16_t lport, rport;
    uint8_t rcv_wscale, snd_wscale;     /* our shift (when ws_ok), the peer's */
    uint8_t ip_tos, ip_ttl;
    uint8_t flags;                      /* TCP_TW_* */
};
#define TCP_TW_BOUND           0x01u    /* lport counted in the port table */
#define TCP_TW_PORT_SHARED     0x02u
#define TCP_TW_WS_OK           0x04u
#define TCP_TW_TS_OK           0x08u
#define TCP_TW_TS_RECENT_VALID 0x10u
#define TCP_TW_SACK_OK         0x20u

/* The records of one stack (a field of struct tcp_state). */
struct tcp_tw_state {
    struct tcp_tw **buckets;            /* 4-tuple hash, chained by hnext */
    uint32_t nbuckets;
    uint32_t n;                         /* records alive (also counted in nconns) */
    struct tcp_tw *head, *tail;         /* expiry FIFO: head expires first */
    struct tcp_tw_block *blocks;        /* every slab block */
    struct tcp_tw_block *partial;       /* blocks with a free record */
    size_t bytes;                       /* memory the blocks hold */
    bool disabled;                      /* tests: orphans stay full connections */
};

int  tcp_tw_init(struct tcp_state *t);
/* Free every record and block (no hook events, as for full connections). */
void tcp_tw_destroy(struct tcp_state *t);
struct tcp_tw *tcp_tw_lookup(const struct tapir_stack *s, uint32_t lip, uint16_t lport, uint32_t rip,
                             uint16_t rport);
/* c is an orphan in TIME_WAIT with nothing owed: replace it with a record
 * (c is released; its memory lasts until tcp_reap). Otherwise, or if no
 * record can be had, nothing happens (c stays a full connection) and
 * false is returned. Cheap to call for any connection. */
bool tcp_tw_try_compact(struct tcp_conn *c);
/* A segment arrived for e: a tcp_conn in TIME_WAIT as e's connection had
 * it, in e's place in the 4-tuple table; e stays reserved for it (c->tw)
 * until tcp_tw_try_compact() or the connection's release. NULL (e left as
 * it was) if no memory. */
struct tcp_conn *tcp_tw_inflate(struct tapir_stack *s, struct tcp_tw *e);
/* c, an inflated record's connection, is released: free the record. */
void tcp_tw_drop_reserved(struct tcp_conn *c);
/* The earliest expiry, TAPIR_TIME_NEVER if no record. */
tapir_time_t tcp_tw_next_expiry(const struct tapir_stack *s);
/* Expire the FIFO's head: TIME_WAIT -> CLOSED, port and tuple freed. */
void tcp_tw_expire_head(struct tapir_stack *s);

#endif
