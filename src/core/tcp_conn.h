/* The TCP connection block (TCB, RFC 9293 3.3.1) and the module's internal
 * interface between tcp_*.c files. Vocabulary follows the RFC: snd_una,
 * snd_nxt, snd_wnd, snd_wl1, snd_wl2, iss, rcv_nxt, rcv_wnd, irs.
 *
 * Timers are absolute deadlines (TAPIR_TIME_NEVER when off); the earliest of
 * a connection's deadlines is its key in one binary heap per stack, so
 * next_deadline is O(1) and poll touches only connections that are due.
 */
#ifndef TAPIR_CORE_TCP_CONN_H
#define TAPIR_CORE_TCP_CONN_H

#include <stdbool.h>
#include <stdint.h>

#include "core/stack.h"
#include "core/tcp.h"
#include "core/tcp_api.h"
#include "core/tcp_seq.h"
#include "core/tcp_timewait.h"
#include "core/tcp_wire.h"

/* A byte ring whose storage is allocated on first use and grows by doubling
 * up to its owner's limit, so idle connections cost no buffer memory.
 * Logical offset 0 is the first byte held; [0, len) are the bytes held;
 * the receive side also writes out-of-order data beyond len. */
struct tcp_ring {
    uint8_t *mem;
    uint32_t cap, head, len;
    /* Bytes already copied to [placed_off, placed_off + placed_len) from
     * placed_src by tcp_ring_place_csum(): a tcp_ring_write() of the same
     * source to the same offset finds them in place and skips the copy. */
    const uint8_t *placed_src;
    uint32_t placed_off, placed_len;
};
/* Storage of the smallest ring size (TCP_RING_MIN) given back by freed
 * rings, kept per stack for the next ring (at most TCP_RING_SPARES_MAX
 * blocks): a server that opens and closes many connections is spared a
 * malloc and a free per buffer. Freed at tcp_destroy. */
#define TCP_RING_MIN 4096u
#define TCP_RING_SPARES_MAX 32u
struct tcp_ring_spares {
    uint8_t *head;                  /* each block starts with the next's address */
    uint32_t n;
};
void tcp_ring_spares_drain(struct tcp_ring_spares *sp);
int  tcp_ring_reserve(struct tcp_ring_spares *sp, struct tcp_ring *r, uint32_t need, uint32_t limit);
void tcp_ring_write(struct tcp_ring *r, uint32_t off, const uint8_t *src, uint32_t n);
void tcp_ring_read(const struct tcp_ring *r, uint32_t off, uint8_t *dst, uint32_t n);
void tcp_ring_consume(struct tcp_ring *r, uint32_t n);
void tcp_ring_free(struct tcp_ring_spares *sp, struct tcp_ring *r);
/* tcp_ring_read() that also returns the partial checksum (RFC 1071) of the
 * n bytes, summed as one area starting on the 16-bit word grid (as
 * csum_partial(dst, n, 0) would), in the same pass over the data. */
uint32_t tcp_ring_read_csum(const struct tcp_ring *r, uint32_t off, uint8_t *dst, uint32_t n);
/* Copy n bytes from src into the free space at offset len, without
 * committing them (len unchanged), summing them as tcp_ring_read_csum()
 * does into *sum, and remember the placement for tcp_ring_write(). 0, or
 * -ENOSPC (nothing written) if they do not fit the current capacity. */
int  tcp_ring_place_csum(struct tcp_ring *r, const uint8_t *src, uint32_t n, uint32_t *sum);
/* Forget a placement (its bytes stay, uncommitted, in the free space). */
void tcp_ring_place_forget(struct tcp_ring *r);

/* Out-of-order ranges kept in the receive ring (absolute sequence numbers). */
#define TCP_OOO_RANGES 16
struct tcp_range { uint32_t start, end; };

/* The sender's SACK scoreboard (RFC 6675 3) keeps at most this many SACKed
 * ranges above snd_una; when more arrive the highest is forgotten, which
 * only makes the sender retransmit more, never less. */
#define TCP_SCOREBOARD_MAX 16

/* Retransmissions of one loss episode that D-SACK detection (RFC 3708,
 * tcp_undo.c) follows; an episode with more is never undone by D-SACK. */
#define TCP_UNDO_RXT_MAX 8

struct tcp_conn;

/* A congestion control algorithm (tcp_cc.c: NewReno, tcp_cc_cubic.c: CUBIC).
 * Slow start, fast retransmit and both loss recoveries (NewReno, RFC 6582,
 * and SACK-based, RFC 6675) are shared; the algorithm decides only how
 * cwnd grows in congestion avoidance and how far it falls on a loss. */
struct tcp_cc_ops {
    const char *name;
    /* Forget the algorithm's own state (a new connection or algorithm). */
    void (*reset)(struct tcp_conn *c);
    /* cwnd >= ssthresh, outside recovery: acked new bytes arrived. */
    void (*cong_avoid)(struct tcp_conn *c, uint32_t acked);
    /* A congestion event (loss detected, or an RTO): record what the
     * algorithm needs and return the new ssthresh in bytes. */
    uint32_t (*on_loss)(struct tcp_conn *c, bool timeout);
    /* The last reduction was spurious (tcp_undo.c): put back the
     * algorithm's own state as on_loss found it (RFC 9438 4.9). */
    void (*undo)(struct tcp_conn *c);
};
extern const struct tcp_cc_ops tcp_cc_newreno_ops;
extern const struct tcp_cc_ops tcp_cc_cubic_ops;
/* The algorithm called name ("cubic", "reno", "newreno"), NULL if none. */
const struct tcp_cc_ops *tcp_cc_find(const char *name);

/* CUBIC's state (RFC 9438 4), windows in bytes. */
struct tcp_cubic {
    uint32_t w_max;                 /* window before the last reduction */
    uint32_t cwnd_prior;            /* cwnd when ssthresh was last set */
    uint32_t cwnd_epoch;            /* cwnd at the start of the epoch */
    uint32_t w_est;                 /* the Reno-friendly estimate (4.3) */
    uint32_t k_ms;                  /* K: time to reach w_max again, ms */
    tapir_time_t t_epoch;           /* start of congestion avoidance, NEVER if none */
    uint64_t acc_cwnd, acc_west;    /* fractional growth carried between ACKs */
};

struct tcp_conn {
    struct tapir_stack *s;
    enum tapir_tcp_state state;
    uint32_t lip, rip;              /* host order */
    uint16_t lport, rport;
    bool bound;                     /* lport counted in the port table */
    bool port_shared;               /* lport taken at connect(): other
                                     * destinations may use it too */
    bool hashed;                    /* in the 4-tuple table */
    bool listening_hashed;          /* in the listener table */
    bool owned;                     /* the owner has not closed it yet */
    bool orphan;                    /* the owner closed it: the core finishes it */
    bool freed;                     /* on the graveyard list */
    bool passive;                   /* created by a listener (RFC note 1) */
    bool reuseaddr, nodelay, keepalive;
    bool rd_shut;                   /* shutdown(RD) or closed */
    bool fin_queued;                /* user asked for a FIN (close/shutdown WR) */
    bool fin_received;              /* peer's FIN consumed (rcv_nxt past it) */
    bool fin_read;                  /* a read returned end of file (the FIN read) */
    bool have_fin_seq;              /* an out-of-order FIN is remembered */
    bool ack_now;                   /* output owes an ACK immediately */
    bool ever_established;          /* reached ESTABLISHED once (CONNECTED, EPIPE) */

    /* Lists: 4-tuple hash chain, listener chain, every connection, queues. */
    struct tcp_conn *hnext;
    struct tcp_conn *lnext;
    struct tcp_conn *anext, *aprev;
    struct tcp_conn *listener;      /* a child: the listener it came from */
    struct tcp_conn *qnext, *qprev; /* a child: in its listener's syn or accept queue */
    bool in_accept_q;
    struct tcp_conn *gnext;         /* graveyard */
    struct tcp_conn *bnext;         /* output deferred to the end of a batch */
    bool batched;                   /* on that list */
    /* A compact TIME_WAIT record inflated for a segment (tcp_timewait.c):
     * kept for this connection until it is compacted again or released. */
    struct tcp_tw *tw;
    /* What the state hook reports as conn: NULL for c itself; for a
     * connection inflated from a compact record, the identity the
     * connection had when it was compacted (tapir.h). */
    const void *hook_id;

    /* Listener. */
    struct tcp_conn *synq_head;     /* half-open children (SYN_RECEIVED) */
    struct tcp_conn *accq_head, *accq_tail;
    uint32_t synq_len, accq_len, backlog;

    void *owner;
    int error;                      /* pending error (negative errno) */
    int soft_error;                 /* ICMP error remembered for a timeout */

    /* Send sequence space (RFC 9293 3.3.1). snd_max is the highest sequence
     * number sent so far (snd_nxt goes back to snd_una on a timeout). */
    uint32_t iss, snd_una, snd_nxt, snd_max, snd_wnd, snd_wl1, snd_wl2;
    uint32_t max_sndwnd;            /* largest window the peer offered (SWS) */
    uint32_t snd_mss;               /* segment size we send: min(peer MSS, ours) */
    uint32_t adv_mss;               /* the MSS we announce */
    struct tcp_ring sndbuf;         /* bytes from snd_una on: in flight, then unsent */
    uint32_t sndbuf_max;
    bool fin_sent;                  /* the FIN has a sequence number (snd_max past it) */
    /* Our SYN has been acknowledged (SND.UNA moved past ISS once). A flag, not
     * a comparison with ISS: after 2^31 bytes seq_gt(snd_una, iss) turns
     * false, and after 2^32 snd_una equals iss again. */
    bool syn_acked;
    bool probe_out;                 /* a zero-window probe byte at snd_nxt is out */

    /* Receive sequence space. rcv_adv is the right edge we announced; it never
     * moves left (RFC 9293 3.8.6 "shrinking the window" is discouraged). */
    uint32_t irs, rcv_nxt, rcv_adv;
    uint32_t rcv_mss;               /* largest segment the peer may send us */
    bool ws_ok;                     /* both sides sent window scale (RFC 7323) */
    uint8_t snd_wscale;             /* the peer's shift: applies to windows it sends */
    uint8_t rcv_wscale;             /* our shift: applies to windows we send */
    struct tcp_ring rcvbuf;         /* [0,len) in order, unread; then out of order */
    uint32_t rcvbuf_max;
    /* Buffer sizes that follow the bandwidth-delay product (tcp_autotune.c):
     * rcv_target bounds the window we announce; *_locked: set by the
     * application (SO_RCVBUF/SO_SNDBUF), used as they are. */
    uint32_t rcv_target;
    bool rcv_locked, snd_locked;
    uint32_t rrtt_us;               /* receiver's RTT estimate (0: none yet) */
    uint32_t rrtt_seq;              /* the sample ends when rcv_nxt passes it */
    tapir_time_t rrtt_start;
    tapir_time_t rwin_start;        /* the current adjustment interval */
    uint64_t rwin_bytes;            /* bytes_received at its start */
    uint32_t rcv_tsecr;             /* TSecr of the segment being processed (0: none) */
    struct tcp_range ooo[TCP_OOO_RANGES];
    uint8_t ooo_n;
    uint32_t ooo_bytes;
    uint32_t fin_seq;               /* when have_fin_seq */
    uint32_t bytes_since_ack;       /* in-order bytes not yet acknowledged */

    /* RTT (RFC 6298), microseconds. One segment is timed at a time (Karn). */
    uint32_t srtt, rttvar, rto;
    bool rtt_valid, rtt_timing;
    uint32_t rtt_seq;
    tapir_time_t rtt_start;
    uint32_t backoff;               /* RTO doublings since the last progress */
    uint32_t retries;               /* consecutive RTO expiries */

    /* Congestion control (RFC 5681, RFC 6582, RFC 6675, RFC 9438). */
    uint32_t cwnd, ssthresh;
    uint32_t dupacks;
    /* Bytes sent beyond cwnd by Limited Transmit (RFC 3042) since DupAcks
     * was last zero; FlightSize for ssthresh leaves them out (RFC 5681
     * 3.2 step 2). */
    uint32_t limited_tx_bytes;
    bool in_recovery;
    uint32_t recover;               /* RecoveryPoint: snd_max when recovery began */
    /* NewReno recovery (no SACK): the first partial ACK has restarted the
     * retransmission timer; later ones leave it (RFC 6582 4, "Impatient"). */
    bool recovery_timer_reset;
    uint32_t bytes_acked_ca;        /* congestion-avoidance byte counter */
    const struct tcp_cc_ops *cc;
    struct tcp_cubic cubic;
    /* Undo of a congestion response found spurious (tcp_undo.c: RFC 3522
     * Eifel detection, RFC 3708 D-SACK detection, RFC 4015 response, RFC
     * 9438 4.9). An episode starts at a fast retransmit or at the first
     * RTO of a series and saves what the reduction is about to change. */
    uint8_t undo_kind;              /* enum tcp_undo_kind */
    bool undo_eifel;                /* waiting for the first acceptable ACK (RFC 3522 3.2 (3)) */
    bool undo_ts_set;               /* the episode's first retransmission went out */
    bool undo_rtt_valid;            /* undo_srtt/undo_rttvar hold an estimate */
    uint32_t undo_retrans_ts;       /* RetransmitTS: its TSval (RFC 3522 3.2 (2)) */
    uint32_t undo_cwnd, undo_ssthresh, undo_recover;
    uint32_t undo_pipe_prev;        /* RFC 4015 3.1: max(FlightSize, ssthresh) */
    uint32_t undo_srtt, undo_rttvar;  /* RFC 4015 3.1: SRTT_prev, RTTVAR_prev */
    uint32_t undo_end;              /* snd_max when the episode began */
    /* RFC 3708: the ranges the episode retransmitted (at most
     * TCP_UNDO_RXT_MAX; more and D-SACK cannot undo it), each marked in
     * undo_dsacked once a D-SACK block reported it as a duplicate. */
    struct tcp_range undo_rxt[TCP_UNDO_RXT_MAX];
    uint8_t undo_rxt_n, undo_dsacked;
    bool undo_rxt_overflow;
    struct tcp_cubic undo_cubic;    /* CUBIC's state before the reduction */

    /* Timestamps (RFC 7323 3-5), in ms ticks of the stack clock plus a
     * per-connection offset. */
    bool ts_ok;                     /* both SYNs carried TSopt */
    bool ts_recent_valid;
    uint32_t ts_offset;
    uint32_t ts_recent;             /* TS.Recent */
    /* The TSval of the first sending of the byte at snd_una, or of an
     * earlier one: an echo older than this is not of any segment an ACK of
     * new data can answer (tcp_ts_rtt). */
    uint32_t ts_una_floor;
    tapir_time_t ts_recent_age;     /* when TS.Recent was last set */
    uint32_t last_ack_sent;         /* Last.ACK.sent */

    /* SACK (RFC 2018): as receiver, the ranges reported most recently first;
     * as sender, the scoreboard of SACKed ranges above snd_una, sorted. */
    bool sack_ok;                   /* both SYNs carried SACK-permitted */
    uint8_t sack_recent_n;
    uint8_t sb_n;
    struct tcp_range sack_recent[TCP_SACK_MAX_BLOCKS];
    struct tcp_range sb[TCP_SCOREBOARD_MAX];
    uint32_t high_rxt;              /* HighRxt (RFC 6675): highest retransmitted + 1 */
    uint32_t rescue_rxt;            /* RescueRxt (RFC 6675): highest rescued + 1 */
    /* D-SACK (RFC 2883): the duplicate range the next ACK reports first. */
    bool dsack_pending;
    struct tcp_range dsack;

    /* Timers. */
    tapir_time_t rto_at, delack_at, persist_at, keepalive_at, timewait_at;
    tapir_time_t idle_at;           /* release empty buffer rings if still empty then */
    tapir_time_t oow_ack_next;      /* the next ACK for an unacceptable pure ACK not before (tcp_ack_unacceptable) */
    tapir_time_t deadline;          /* min of the above: the heap key */
    uint32_t heap_idx;              /* position in the heap, UINT32_MAX if out */
    uint32_t persist_backoff;
    uint32_t keepalive_probes;
    tapir_time_t ka_idle, ka_intvl;
    uint32_t ka_cnt;

    uint64_t total_retrans, bytes_sent, bytes_received;

    /* Connection failures (RFC 9293 3.8.3). user_timeout: R2 of this
     * connection as a time (TCP_USER_TIMEOUT, MUST-21), 0 for the stack's
     * retry counts; unacked_since: when the current period without an
     * acknowledgment began (set when the retransmission timer is armed
     * afresh); probe_since: when zero-window probing began; syn_retries:
     * TCP_SYNCNT, 0 for cfg.tcp_syn_retries. */
    tapir_time_t user_timeout;
    tapir_time_t unacked_since;
    tapir_time_t probe_since;
    uint8_t syn_retries;
    /* IP-level options (tcp_api.h: tcp_set_tos ...). ip_tos: the TOS byte
     * of every IPv4 header this connection sends (RFC 9293 3.9.1.9,
     * MUST-48, SHLD-22), its ECN bits clear; ip_ttl: their TTL, 0 for
     * cfg.ip_ttl; recverr: report soft errors at once (3.9.1.8, MUST-47,
     * SHLD-20's switch), not only at a timeout. Three bytes that sit in
     * padding: the TCB does not grow. */
    uint8_t ip_tos;
    uint8_t ip_ttl;
    bool recverr;

    /* Urgent data (RFC 9293 3.8.5; tcp_urgent.c, contract in tcp_urgent.h).
     * snd_up: SND.UP, meaningful while snd_urg (urgent mode) and
     * SND.UNA is before it. rcv_up: RCV.UP, the sequence number after the
     * peer's urgent byte; urg_state (enum tcp_urg_state) what we know of
     * that byte, urg_byte its value once it arrived. oob_inline:
     * SO_OOBINLINE, the byte stays in the stream. */
    bool snd_urg;
    bool oob_inline;
    uint8_t urg_state;
    uint8_t urg_byte;
    uint32_t snd_up, rcv_up;
};

#define TCP_PORT_PERTURB 256

struct tcp_state {
    struct tcp_conn **buckets;      /* 4-tuple hash, chained by hnext */
    uint32_t nbuckets, nhashed;
    struct tcp_conn **lbuckets;     /* listeners by local port */
    uint32_t nlbuckets;
    /* Local ports (tcp_port.c): connections bound to each port, and how
     * many of those took it at connect() and share it (RFC 6056). */
    uint32_t *port_refs, *port_shared;
    struct tcp_conn *all;           /* every live connection */
    uint32_t nconns;                /* those, plus compact TIME_WAIT records (tw.n) */
    struct tcp_tw_state tw;         /* compact TIME_WAIT records (tcp_timewait.c) */
    struct tcp_conn *graveyard;     /* freed at the end of the current call */
    /* freed connections kept for reuse by tcp_conn_alloc (linked by gnext;
     * at most TCP_CONN_SPARES_MAX), and spare ring storage */
    struct tcp_conn *conn_spares;
    uint32_t nconn_spares;
    struct tcp_ring_spares ring_spares;
    bool batching;                  /* tcp_batch_begin .. tcp_batch_end */
    struct tcp_conn *batch;         /* connections whose output waits for the end */
    struct tcp_conn **heap;         /* timer min-heap on conn->deadline */
    uint32_t heap_len, heap_cap;
    tapir_state_hook hook;
    void *hook_ctx;
    tcp_notify_fn notify;
    uint64_t isn_k0, isn_k1;        /* RFC 6528 secret key */
    uint32_t rst_tokens;            /* RST/challenge ACK rate limit */
    tapir_time_t rst_refill_at;
    /* RFC 6056 Algorithm 4: per-destination-group counters. */
    uint16_t port_perturb[TCP_PORT_PERTURB];
};

/* The largest window a peer can offer (RFC 7323 2.3: 2^30 bytes); cwnd is
 * never useful beyond it. */
#define TCP_CWND_MAX (1u << 30)

#define TCP_EPHEMERAL_LO 49152u
#define TCP_EPHEMERAL_HI 65535u

static inline bool tcp_synchronized(enum tapir_tcp_state st)
{
    return st >= TAPIR_TCP_SYN_RECEIVED;
}

/* tcp.c: lifecycle, the state-change recorder, notify. */
void tcp_set_state(struct tcp_conn *c, enum tapir_tcp_state to, const char *cause);
/* Show one state change to the hook (tcp_set_state's report; also the
 * expiry of a compact TIME_WAIT record, which has no tcp_conn). */
void tcp_hook_report(struct tapir_stack *s, uint32_t lip, uint16_t lport, uint32_t rip, uint16_t rport,
                     enum tapir_tcp_state from, enum tapir_tcp_state to, const char *cause, const void *ident);
/* The cause reported when 2*MSL ends TIME_WAIT (RFC 9293 3.4.2). */
#define TCP_CAUSE_2MSL "2MSL timer"
void tcp_notify(struct tcp_conn *c);
struct tcp_conn *tcp_conn_alloc(struct tapir_stack *s, int *err);
/* The same without the tcp_max_connections check: for a connection that
 * replaces a compact TIME_WAIT record, already counted. */
struct tcp_conn *tcp_conn_alloc_unlimited(struct tapir_stack *s, int *err);
/* Unlink c from every table and queue it for freeing. */
void tcp_conn_release(struct tcp_conn *c);
void tcp_reap(struct tapir_stack *s);
/* c went to CLOSED (reset, timeout, last ACK): report err, release if unowned. */
void tcp_conn_closed(struct tcp_conn *c, int err, const char *cause);
/* A soft error err (negative errno) happened to c: an ICMP error that does
 * not abort, or R1 reached (RFC 9293 3.8.3, 3.9.1.8). With recverr on and
 * the handshake done it becomes the pending error at once (tcp_take_error;
 * the connection goes on); otherwise nothing happens here. */
void tcp_report_soft_error(struct tcp_conn *c, int err);
bool tcp_rate_allow(struct tapir_stack *s);

/* tcp_table.c: demultiplexing and the timer heap. */
uint32_t tcp_tuple_hash(const struct tcp_state *t, uint32_t lip, uint16_t lport, uint32_t rip, uint16_t rport);
/* A connection or a compact TIME_WAIT record holds this 4-tuple. */
bool tcp_tuple_in_use(struct tapir_stack *s, uint32_t lip, uint16_t lport, uint32_t rip, uint16_t rport);
int  tcp_table_init(struct tcp_state *t);
void tcp_table_destroy(struct tcp_state *t);
struct tcp_conn *tcp_table_lookup(struct tapir_stack *s, uint32_t lip, uint16_t lport, uint32_t rip, uint16_t rport);
struct tcp_conn *tcp_table_listener(struct tapir_stack *s, uint32_t lip, uint16_t lport);
int  tcp_table_hash(struct tcp_conn *c);
void tcp_table_unhash(struct tcp_conn *c);
void tcp_table_listen(struct tcp_conn *c);
void tcp_table_unlisten(struct tcp_conn *c);
/* tcp_port.c: local ports. */
void tcp_port_ref(struct tcp_conn *c, uint16_t port, bool shared);
void tcp_port_unref(struct tcp_conn *c);
/* Drop one reference to port (shared: one taken at connect()). */
void tcp_port_release(struct tapir_stack *s, uint16_t port, bool shared);
bool tcp_port_in_use(struct tapir_stack *s, uint16_t port);
int  tcp_port_ephemeral(struct tapir_stack *s, uint16_t *port);
int  tcp_port_for_connect(struct tapir_stack *s, uint32_t lip, uint32_t rip, uint16_t rport,
                          uint16_t *port);
/* Recompute c's earliest deadline and move it in the heap. */
void tcp_timer_sync(struct tcp_conn *c);
void tcp_heap_remove(struct tcp_conn *c);
struct tcp_conn *tcp_heap_top(const struct tapir_stack *s);

/* tcp_isn.c */
uint32_t tcp_isn(struct tapir_stack *s, uint32_t lip, uint16_t lport, uint32_t rip, uint16_t rport);
uint64_t tcp_siphash24(uint64_t k0, uint64_t k1, const uint8_t *msg, size_t len);

/* tcp_output.c */
void tcp_output(struct tcp_conn *c);
int  tcp_send_segment(struct tcp_conn *c, uint32_t seq, uint8_t flags, uint32_t len, bool with_mss);
void tcp_send_ack(struct tcp_conn *c);
void tcp_send_rst_for(struct tcp_conn *c);
/* <SEQ=seq><CTL=RST> on c's 4-tuple, answering an unacceptable ACK in
 * SYN-SENT or SYN-RECEIVED (RFC 9293 3.10.7.3, 3.10.7.4); with c's TOS/TTL. */
void tcp_send_rst_reply(struct tcp_conn *c, uint32_t seq);
void tcp_send_rst_raw(struct tapir_stack *s, uint32_t lip, uint16_t lport, uint32_t rip, uint16_t rport,
                      uint32_t seq, uint32_t ack, uint8_t flags);
void tcp_send_challenge_ack(struct tcp_conn *c);
/* An unacceptable segment g (out of window, or PAWS): owe the peer an ACK,
 * for a pure ACK at most once per cfg.tcp_oow_ack_interval. */
void tcp_ack_unacceptable(struct tcp_conn *c, const struct tcp_seg *g);
uint16_t tcp_window_to_advertise(struct tcp_conn *c, bool syn);
/* The shift that lets a window cover the receive buffer (RFC 7323 2.3). */
uint8_t tcp_wscale_for(uint32_t rcvbuf);
bool tcp_window_update_due(const struct tcp_conn *c);
/* The next segment would announce the right edge rcv_adv as it is (receiver
 * SWS avoidance would not move it): true for a connection that sent an
 * ACK since RCV.NXT and its buffer space last changed. */
bool tcp_window_settled(const struct tcp_conn *c);
/* tcp_autotune.c: buffer sizes that follow the bandwidth-delay product. */
#define TCP_BUF_INITIAL (64u * 1024)
void tcp_autotune_init(struct tcp_conn *c);
void tcp_autotune_rcv(struct tcp_conn *c);      /* after in-order data arrived */
uint32_t tcp_rcv_window_limit(const struct tcp_conn *c);
uint32_t tcp_sndbuf_limit(const struct tcp_conn *c);
/* The handshake is over: the scaled window counts as announced (see .c). */
void tcp_window_after_handshake(struct tcp_conn *c);
uint32_t tcp_flight(const struct tcp_conn *c);
uint32_t tcp_unsent(const struct tcp_conn *c);

/* tcp_timer.c */
void tcp_timer_fire(struct tcp_conn *c, tapir_time_t now);
void tcp_rtt_sample(struct tcp_conn *c, tapir_time_t rtt);
void tcp_rto_arm(struct tcp_conn *c);
tapir_time_t tcp_rto_current(const struct tcp_conn *c);
void tcp_enter_time_wait(struct tcp_conn *c, const char *cause);
void tcp_keepalive_reset(struct tcp_conn *c);
/* A ring just became empty: arrange for its memory to be released if it
 * stays empty for a while (so idle connections hold no buffers, without a
 * free/malloc pair per packet while data flows). */
void tcp_ring_idle_check(struct tcp_conn *c);

/* tcp_reass.c */
/* Place payload [seq, seq+len) into the receive ring; advance rcv_nxt over
 * whatever became contiguous. Returns the number of bytes that became
 * readable, or -ENOBUFS if an out-of-order piece could not be kept. */
long tcp_reass_insert(struct tcp_conn *c, uint32_t seq, const uint8_t *data, uint32_t len);

/* tcp_cc.c: the shared machinery around the algorithm in c->cc. */
void tcp_cc_init(struct tcp_conn *c);
/* New data acknowledged up to ack; true on a NewReno partial ACK (resend now). */
bool tcp_cc_newack(struct tcp_conn *c, uint32_t acked, uint32_t ack);
/* A duplicate ACK arrived; true if the caller must retransmit snd_una now. */
bool tcp_cc_dupack(struct tcp_conn *c);
/* A NewReno partial ACK (tcp_cc_newack returned true): true if it may
 * restart the retransmission timer, i.e. it is the first of this recovery. */
bool tcp_cc_partial_ack_restarts_timer(struct tcp_conn *c);
void tcp_cc_timeout(struct tcp_conn *c);
/* Slow start (RFC 5681 3.1), shared by the algorithms. */
void tcp_cc_slow_start(struct tcp_conn *c, uint32_t acked);
/* FlightSize for ssthresh: what is in the network (RFC 5681 eq. (4)),
 * less what Limited Transmit sent beyond cwnd (RFC 5681 3.2 step 2). */
uint32_t tcp_cc_flight_size(const struct tcp_conn *c);
/* The duplicate ACK threshold (RFC 5681 3.2, RFC 6675 DupThresh). */
#define TCP_DUPTHRESH 3u
/* Limited Transmit (RFC 3042 2, RFC 5681 3.2, RFC 6675 5 step (3)): how
 * many bytes of new data may be in flight now, beyond what cwnd allows,
 * after the first or second duplicate ACK; 0 when it does not apply. */
uint32_t tcp_cc_limited_transmit_room(const struct tcp_conn *c);
/* Output sent new data with bytes_beyond_cwnd past cwnd (in segs wire
 * segments) under that allowance: remember and count them. */
void tcp_cc_limited_transmit_sent(struct tcp_conn *c, uint32_t bytes_beyond_cwnd, uint32_t segs);
uint32_t tcp_cube_root(uint64_t x);

/* tcp_undo.c: detect spurious retransmissions and undo the reduction. */
enum tcp_undo_kind { TCP_UNDO_NONE, TCP_UNDO_FAST, TCP_UNDO_RTO };
/* A fast retransmit (timeout false) or the first RTO of a series is about
 * to reduce cwnd and ssthresh: save them (nothing when cfg.tcp_undo is off). */
void tcp_undo_begin(struct tcp_conn *c, bool timeout);
/* Forget the episode: nothing of it may be undone any more. */
void tcp_undo_cancel(struct tcp_conn *c);
/* [seq, seq + len) was retransmitted just now. */
void tcp_undo_retransmitted(struct tcp_conn *c, uint32_t seq, uint32_t len);
/* An acceptable ACK g (acked new bytes; snd_una already moved): Eifel
 * detection and response. True if the reduction was undone: the restored
 * window stands for this ACK (no growth, no recovery step on it). */
bool tcp_undo_on_ack(struct tcp_conn *c, const struct tcp_seg *g, uint32_t acked);
/* A D-SACK block [start, end) arrived (RFC 2883 4.1). */
void tcp_undo_dsack(struct tcp_conn *c, uint32_t start, uint32_t end);
/* The end of an ACK's processing: undo once every retransmission of an
 * ended fast-retransmit episode was D-SACKed (RFC 3708 3). */
void tcp_undo_after_ack(struct tcp_conn *c);
/* tcp_cc.c: RFC 5681 3.1's initial window for c's SMSS. */
uint32_t tcp_cc_initial_window(const struct tcp_conn *c);
/* tcp_timer.c: after a spurious timeout, SRTT = max(srtt_prev, sample),
 * RTTVAR = max(rttvar_prev, sample / 2) and the RTO from them (RFC 4015 3.2). */
void tcp_rtt_reinit_spurious(struct tcp_conn *c, uint32_t srtt_prev, uint32_t rttvar_prev, tapir_time_t sample);

/* tcp_ts.c: timestamps (RFC 7323 3-5). */
void tcp_ts_init(struct tcp_conn *c);
uint32_t tcp_ts_now(const struct tcp_conn *c);
/* The peer's SYN (or SYN,ACK) g: timestamps on if both offered. */
void tcp_ts_negotiate(struct tcp_conn *c, const struct tcp_seg *g);
/* PAWS (5.3 R1) and the TSopt-required rule (3.2), before the sequence
 * check: false if the segment is dropped (an ACK is owed when the rule
 * says so). */
bool tcp_ts_accept(struct tcp_conn *c, const struct tcp_seg *g);
/* An acceptable segment: update TS.Recent (4.3, 5.3 R3). */
void tcp_ts_update_recent(struct tcp_conn *c, const struct tcp_seg *g);
/* An ACK of new data: RTT sample from TSecr (4.1); true if one was taken. */
bool tcp_ts_rtt(struct tcp_conn *c, const struct tcp_seg *g);
/* Fill the TSopt of an outgoing segment (syn: the SYN or SYN,ACK). */
void tcp_ts_fill(struct tcp_conn *c, struct tcp_seg *g, bool syn);
/* g, filled by tcp_ts_fill, is being sent: keeps ts_una_floor. */
void tcp_ts_sent(struct tcp_conn *c, const struct tcp_seg *g);
/* An ACK passed the segment first sent at `sent` (the Karn-timed one):
 * every byte from the new snd_una on was first sent then or later. */
void tcp_ts_una_sent_at(struct tcp_conn *c, tapir_time_t sent);

/* tcp_sack.c: SACK (RFC 2018) and SACK-based loss recovery (RFC 6675). */
void tcp_sack_negotiate(struct tcp_conn *c, const struct tcp_seg *g);
/* Receiver: out-of-order data [start, end) arrived and was kept. */
void tcp_sack_rcv_note(struct tcp_conn *c, uint32_t start, uint32_t end);
/* Receiver: put the SACK blocks owed into g (at most max). */
void tcp_sack_fill(struct tcp_conn *c, struct tcp_seg *g, uint8_t max);
/* Receiver: a segment [seq, seq+len) arrived; if (part of) it is data we
 * hold already, the next ACK reports that part as a D-SACK block. */
void tcp_sack_dsack_note(struct tcp_conn *c, uint32_t seq, uint32_t len);
/* Sender: take g's SACK blocks into the scoreboard; true if they SACKed
 * bytes not SACKed before (a D-SACK block never does). */
bool tcp_sack_update(struct tcp_conn *c, const struct tcp_seg *g);
/* Sender, outside NewReno recovery, after the cumulative part of an ACK
 * (which reset DupAcks): count it as a DupAck if it SACKed new data
 * (sack_new), then enter recovery if RFC 6675 5 says so; true if entered. */
bool tcp_sack_on_ack(struct tcp_conn *c, bool sack_new);
/* Sender: snd_una moved, forget what it passed. */
void tcp_sack_trim(struct tcp_conn *c);
/* RFC 6675 4: IsLost(seq), SetPipe. */
bool tcp_sack_is_lost(const struct tcp_conn *c, uint32_t seq);
uint32_t tcp_sack_pipe(const struct tcp_conn *c);
uint32_t tcp_sack_sacked_bytes(const struct tcp_conn *c);
/* After an ACK on a SACK connection outside recovery: enter recovery if
 * RFC 6675 5 says so (dupacks or IsLost(HighACK+1)); true if entered. */
bool tcp_sack_maybe_enter_recovery(struct tcp_conn *c);
/* In recovery: an ACK advanced snd_una; leave recovery past RecoveryPoint. */
void tcp_sack_recovery_ack(struct tcp_conn *c);
/* In recovery: send what pipe and cwnd allow, by NextSeg (RFC 6675 5 step C). */
void tcp_sack_recovery_output(struct tcp_conn *c);
/* An RTO: end recovery; after repeated timeouts forget the scoreboard (the
 * receiver may have reneged, RFC 2018 8). */
void tcp_sack_timeout(struct tcp_conn *c);
/* Go-back-N after an RTO: if seq is SACKed, the first byte above it that is
 * not; else seq. *limit: how far from there the segment may run. */
uint32_t tcp_sack_skip(const struct tcp_conn *c, uint32_t seq, uint32_t *limit);

/* tcp_output.c, for the recovery: send new data (at most one segment when
 * one_segment) within min(cwnd - pipe, window); true if something went. */
bool tcp_send_new_data(struct tcp_conn *c, uint32_t allowance, bool one_segment);
/* The most payload a segment may carry now (MSS less per-segment options). */
uint32_t tcp_seg_payload_max(const struct tcp_conn *c);
/* Retransmit [seq, seq+len) (with the FIN if it is the last byte). */
void tcp_retransmit(struct tcp_conn *c, uint32_t seq, uint32_t len);

#endif
