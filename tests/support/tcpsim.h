/* Two tapir stacks over a vlink (IP link, no ARP) on one virtual clock, for
 * the TCP simulation tests (tests/sim/test_tcp_sim_*.c): stack A at
 * 10.0.0.2, stack B at 10.0.0.3. Connections are driven through the core's
 * application API (core/tcp_api.h) directly, without threads.
 *
 * Every state change of both stacks is observed: per-state counts (for
 * thousands of connections) and the last change of a few watched
 * connections (for exact final-state and timer checks).
 *
 * Runs are deterministic for given seeds: a failing run is replayed with
 * tcpsim_pair_start(..., pcap_path) to record a trace of it. */
#ifndef TAPIR_TEST_TCPSIM_H
#define TAPIR_TEST_TCPSIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/tcp_api.h"
#include "pcap_writer.h"
#include "sim.h"
#include "tapir/tapir.h"
#include "tapir/vlink.h"

#define TCPSIM_IP_A 0x0a000002u
#define TCPSIM_IP_B 0x0a000003u
#define TCPSIM_WATCH_MAX 16

/* What one stack's state hook saw. */
struct tcpsim_watched {
    const void *conn;
    enum tapir_tcp_state state;         /* after the last change */
    tapir_time_t when;                  /* of the last change */
    tapir_time_t entered_time_wait;     /* last entry into TIME_WAIT, 0 if never */
};

struct tcpsim_node {
    tapir_stack *s;
    struct tapir_dev *end;
    struct tcpsim_pair *pair;
    /* Connections in each state, counted from the hook. Connections that
     * never left CLOSED are not counted, so in_state[CLOSED] only means
     * "reached CLOSED from another state". */
    long in_state[TAPIR_TCP__STATE_COUNT];
    unsigned long arcs[TAPIR_TCP__STATE_COUNT][TAPIR_TCP__STATE_COUNT];
    struct tcpsim_watched watch[TCPSIM_WATCH_MAX];
    size_t nwatch;
};

struct tcpsim_pair {
    struct tcpsim_node a, b;
    struct sim *sim;
    struct pcap_writer *pcap;
    bool trace_states;          /* env TCPSIM_TRACE set: print every state change */
};

/* tweak (may be NULL) edits each stack's config before creation;
 * stack_seed seeds both stacks (ISNs, ports); pcap_path NULL: no trace. */
void tcpsim_pair_start(struct tcpsim_pair *p, const struct tapir_vlink_params *params, uint64_t stack_seed,
                       void (*tweak)(struct tapir_config *cfg), const char *pcap_path);
/* Destroys stacks, links and the trace (no checks). */
void tcpsim_pair_free(struct tcpsim_pair *p);
/* API calls (connect, send, recv ...) stamp what they do with the time of
 * the stack's last input or poll, which lags behind the sim's clock for a
 * stack that had nothing to do lately. Call this before API calls made
 * between sim steps: it polls both stacks at the sim's current time. */
void tcpsim_sync(struct tcpsim_pair *p);
/* Start watching c's state changes (up to TCPSIM_WATCH_MAX per node). */
struct tcpsim_watched *tcpsim_watch(struct tcpsim_node *n, const void *c);
/* Packet buffers held and connections alive in a stack. */
uint32_t tcpsim_bufs_in_use(const struct tcpsim_node *n);
uint32_t tcpsim_conns(const struct tcpsim_node *n);
/* Sum of a stack's drop counters for the reasons a flipped bit can cause
 * (IPv4 header checks, TCP length/offset/checksum/options). */
uint64_t tcpsim_corruption_drops(const struct tcpsim_node *n);

/* ---- a deterministic pseudo-random byte stream -------------------------- */
/* Byte at offset off of the stream named key. */
uint8_t tcpsim_pattern_byte(uint64_t key, uint64_t off);
void tcpsim_pattern_fill(uint64_t key, uint64_t off, uint8_t *dst, size_t n);

/* ---- an application end driving one connection -------------------------- */
struct tcpsim_app {
    struct tcp_conn *c;                 /* NULL once closed by the app */
    uint64_t send_key, recv_key;
    uint64_t to_send, sent;             /* pattern bytes to queue / queued */
    uint64_t to_recv, received;         /* pattern bytes expected / checked */
    bool eof;                           /* tcp_recv returned 0 */
    bool mismatch;
    uint64_t mismatch_at;
    int error;                          /* first error other than -EAGAIN */
    uint8_t out[16384];                 /* pattern bytes [out_off, out_off + out_len) */
    uint64_t out_off;
    size_t out_len;
};
void tcpsim_app_init(struct tcpsim_app *app, struct tcp_conn *c, uint64_t send_key, uint64_t to_send,
                     uint64_t recv_key, uint64_t to_recv);
/* Queue what fits, read and check what arrived. */
void tcpsim_app_pump(struct tcpsim_app *app);
static inline bool tcpsim_app_sent_all(const struct tcpsim_app *app) { return app->sent == app->to_send; }
static inline bool tcpsim_app_received_all(const struct tcpsim_app *app) { return app->received == app->to_recv; }

#endif
