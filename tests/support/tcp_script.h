/* A scripted peer for TCP tests: one stack (IP link, 10.0.0.2) driven by a
 * virtual clock, and a peer (10.0.0.3) that injects segments built here
 * (IPv4 + TCP, correct checksums) and expects the stack's segments (flags,
 * seq, ack, window, options) at given virtual times.
 *
 * Every state change of every connection is logged, and also counted in the
 * process-wide table tcp_script_arcs so a test program can check which arcs
 * of RFC 9293 Figure 5 it exercised. */
#ifndef TAPIR_TEST_TCP_SCRIPT_H
#define TAPIR_TEST_TCP_SCRIPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/tcp_api.h"
#include "core/tcp_wire.h"
#include "tapir/tapir.h"

#define TCP_SCRIPT_US_IP   0x0a000002u     /* 10.0.0.2: the stack under test */
#define TCP_SCRIPT_PEER_IP 0x0a000003u     /* 10.0.0.3: the scripted peer */
#define TCP_SCRIPT_MAX_OUT 4096
#define TCP_SCRIPT_MAX_LOG 256

/* A segment the stack emitted, parsed. */
struct tcp_script_out {
    struct tcp_seg seg;             /* seg.data points into payload */
    uint8_t payload[2048];
    uint32_t src, dst;
    tapir_time_t when;
    uint8_t tos, ttl;               /* of the IPv4 header that carried it */
};

struct tcp_script_change {
    enum tapir_tcp_state from, to;
    const void *conn;
    const char *cause;
    tapir_time_t when;
};

struct tcp_script {
    tapir_stack *s;
    tapir_time_t now;
    /* Emitted segments not yet taken by an expectation. */
    struct tcp_script_out *out;
    size_t out_head, out_len, out_cap;   /* a ring of out_cap (grows) */
    size_t non_tcp;                 /* frames that were not TCP/IPv4 */
    bool drop_output;               /* discard emitted frames (floods) */
    /* State changes. */
    struct tcp_script_change log[TCP_SCRIPT_MAX_LOG];
    size_t nlog;
    /* The peer's defaults for tcp_script_send(). */
    uint16_t peer_port, local_port;
    uint16_t peer_wnd;
    uint32_t peer_nxt;              /* the peer's next sequence number */
    uint32_t our_nxt;               /* the stack's next sequence number as the peer saw it */
};

/* Process-wide arc counts [from][to], for coverage checks. */
extern unsigned long tcp_script_arcs[TAPIR_TCP__STATE_COUNT][TAPIR_TCP__STATE_COUNT];

/* A stack at 10.0.0.2 on an IP link with fixed seed; tweak (may be NULL)
 * edits the config before the stack is created. */
struct tcp_script *tcp_script_new(void (*tweak)(struct tapir_config *cfg));
/* Asserts that no connection and no packet buffer is left, then frees. */
void tcp_script_free_checked(struct tcp_script *sc);
/* The end of a test: aborts *c (if c and *c), lets every timer run out
 * (TIME_WAIT, an orphan FIN_WAIT_2, every retry), then frees *sc as
 * tcp_script_free_checked() does; NULLs both. */
void tcp_script_finish(struct tcp_script **sc, struct tcp_conn **c);
/* Frees without checks (after a failure or for leak-tolerant tests). */
void tcp_script_free(struct tcp_script *sc);

/* Inject a segment from the peer. opts/optlen: raw option bytes (padded by
 * the caller to a multiple of 4) used instead of mss when non-NULL. */
void tcp_script_inject_raw(struct tcp_script *sc, uint16_t sport, uint16_t dport, uint32_t seq,
                           uint32_t ack, uint8_t flags, uint16_t wnd, const uint8_t *opts,
                           size_t optlen, const uint8_t *data, size_t len);
/* Inject with the default ports and window; mss 0 means no option. */
void tcp_script_send(struct tcp_script *sc, uint8_t flags, uint32_t seq, uint32_t ack,
                     uint16_t mss, const void *data, size_t len);
/* The same without options, with the urgent pointer field set to urp. */
void tcp_script_send_urg(struct tcp_script *sc, uint8_t flags, uint32_t seq, uint32_t ack,
                         uint16_t urp, const void *data, size_t len);
/* A SACK block [start, end), as offsets from a base sequence number. */
struct tcp_script_block {
    uint32_t start, end;
};
/* Options NOP NOP SACK with n (<= 4) blocks at base + b[i] into o (room for
 * 36 bytes); returns their length, 0 when n is 0. */
size_t tcp_script_sack_option(uint8_t *o, uint32_t base, uint8_t n, const struct tcp_script_block *b);
/* Queue `bytes` of data on c, then let the peer acknowledge every segment
 * one `rtt` after it left (pure ACKs), until all of it is acknowledged: slow
 * start opens cwnd. Asserts that it takes at most 32 round trips; leaves
 * our_nxt at the end and nothing pending. */
void tcp_script_transfer_acked(struct tcp_script *sc, struct tcp_conn *c, const uint8_t *data,
                               uint32_t bytes, tapir_time_t rtt);
/* Inject raw bytes as the payload of an IPv4 packet (for malformed headers). */
void tcp_script_inject_ip_payload(struct tcp_script *sc, const uint8_t *tcp, size_t len);

/* Take the next emitted segment: false if none. */
bool tcp_script_next(struct tcp_script *sc, struct tcp_script_out *out);
/* Take the next emitted segment and assert its flags, seq and ack (ack is
 * checked only when flags has ACK). out may be NULL. */
void tcp_script_expect(struct tcp_script *sc, uint8_t flags, uint32_t seq, uint32_t ack,
                       struct tcp_script_out *out);
/* The same without checking seq (a SYN whose ISS is not known yet). */
void tcp_script_expect_anyseq(struct tcp_script *sc, uint8_t flags, uint32_t ack, struct tcp_script_out *out);
/* Assert that nothing was emitted (and that nothing is pending). */
void tcp_script_expect_none(struct tcp_script *sc);
/* Forget emitted segments. */
void tcp_script_flush(struct tcp_script *sc);
size_t tcp_script_pending(const struct tcp_script *sc);

/* Advance virtual time by dt, running every timer that falls due at its
 * own deadline (so emitted segments carry exact times). */
void tcp_script_advance(struct tcp_script *sc, tapir_time_t dt);
/* Advance to the next deadline of the stack (asserting there is one before
 * limit) and return it. */
tapir_time_t tcp_script_advance_to_next(struct tcp_script *sc, tapir_time_t limit);

/* Connections. */
struct tcp_conn *tcp_script_listen(struct tcp_script *sc, uint16_t port, int backlog);
/* Active open from the stack, left in SYN-SENT: its SYN taken off the
 * wire (with an MSS option), our ISS in *iss. */
struct tcp_conn *tcp_script_connect(struct tcp_script *sc, uint32_t *iss);
/* Active open from the stack, completed by the peer (ISS peer_iss). */
struct tcp_conn *tcp_script_active_open(struct tcp_script *sc, uint32_t peer_iss);
/* Passive open on a new listener at port, for loss-recovery tests: the
 * peer's SYN (sequence peer_iss) offers MSS mss and, if sack, SACK-permitted
 * (no timestamps, no window scaling); asserts the SYN,ACK's SACK-permitted
 * answers it, completes the handshake, closes the listener and returns the
 * accepted connection with our_nxt and peer_nxt set. */
struct tcp_conn *tcp_script_passive_open_sack(struct tcp_script *sc, uint16_t port, uint32_t peer_iss,
                                              uint16_t mss, bool sack);
/* Take the next emitted segment and assert it carries exactly data[0, len)
 * at sequence number seq. */
void tcp_script_expect_data(struct tcp_script *sc, uint32_t seq, const uint8_t *data, uint32_t len);
/* Passive open: the peer connects to a new listener; the accepted
 * connection is returned and *listener set (may be NULL to close it). */
struct tcp_conn *tcp_script_passive_open(struct tcp_script *sc, uint32_t peer_iss, struct tcp_conn **listener);
/* Close c and let the peer finish the close so that nothing is left after
 * TIME_WAIT (or LAST_ACK) ends. */
void tcp_script_close_cleanly(struct tcp_script *sc, struct tcp_conn *c);

/* Was the arc from -> to logged (by any connection) in this script? */
bool tcp_script_saw(const struct tcp_script *sc, enum tapir_tcp_state from, enum tapir_tcp_state to);
/* Print the ladder of state changes to stderr. */
void tcp_script_dump_log(const struct tcp_script *sc);

#endif
