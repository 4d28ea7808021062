/* tapir — a userspace TCP/IP stack over Linux TAP.
 *
 * This header is the stack's lifecycle, configuration and statistics.
 * There are two ways to run a stack:
 *
 *  1. Driven by tapir's own thread (most programs):
 *         struct tapir_config cfg;  tapir_config_init(&cfg);  ...set fields...
 *         struct tapir_dev *dev;    tapir_tap_open("tap0", &dev, err, sizeof err);
 *         tapir_stack *s;           tapir_stack_start(&cfg, dev, &s);
 *         ... sockets (tapir/socket.h) ...
 *         tapir_stack_stop(s);
 *
 *  2. Driven by the caller (tests, simulations, event loops of one's own): the
 *     sans-IO core performs no I/O, reads no clock and starts no thread.
 *         tapir_stack_create(&cfg, &s);
 *         tapir_stack_set_output(s, send_frame, ctx);
 *         tapir_stack_input(s, frame, len, now);   each frame that arrives
 *         tapir_stack_poll(s, now);                whenever now >= next_deadline
 *         tapir_stack_next_deadline(s);
 *         tapir_stack_destroy(s);
 *
 * Times are monotonic microseconds (tapir_time_t). Addresses in this API are
 * struct in_addr (network byte order), as in the BSD socket API.
 * Functions return 0 or a negative errno unless said otherwise.
 */
#ifndef TAPIR_TAPIR_H
#define TAPIR_TAPIR_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tapir/counters.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef uint64_t tapir_time_t;                /* microseconds, monotonic */
#define TAPIR_TIME_NEVER UINT64_MAX
#define TAPIR_USEC(x) ((tapir_time_t)(x))
#define TAPIR_MSEC(x) ((tapir_time_t)(x) * 1000u)
#define TAPIR_SEC(x)  ((tapir_time_t)(x) * 1000000u)

/* What a device carries. An IP link (a TUN device, a test harness exchanging
 * bare IPv4 packets) has no Ethernet header and no ARP. */
enum tapir_link_type {
    TAPIR_LINK_ETHERNET = 0,
    TAPIR_LINK_IP = 1,
};

/* Every tunable of a stack. tapir_config_init() fills the defaults noted. */
/* Who writes frames to the device under tapir_stack_start. On a plain TAP
 * each write() runs the kernel's receive path for the frame (bridge, IP,
 * TCP, waking the reader) in the writing thread, which in bulk sending costs
 * more CPU than tapir's own work. A writer thread lets another CPU do it.
 *   OFF   the thread running the core writes every frame itself;
 *   AUTO  (default) it writes small frames (under half the MTU) and the
 *         first two of each burst itself (no hand-off for a handshake, an
 *         ACK or a request/response) and hands the rest of a burst of large
 *         frames to a writer thread, in order; only on a device without
 *         offloads (with TSO one write already carries tens of frames) and
 *         when the calling thread may run on more than one CPU (the writer
 *         inherits its CPU mask);
 *   ON    every frame goes through the writer thread.
 * The environment variable TAPIR_TX_THREAD=off|auto|on overrides it. */
enum tapir_tx_thread {
    TAPIR_TX_THREAD_AUTO = 0,
    TAPIR_TX_THREAD_OFF,
    TAPIR_TX_THREAD_ON,
};

struct tapir_config {
    /* Interface */
    enum tapir_link_type link;     /* ETHERNET */
    uint8_t mac[6];                /* all zero: a random locally administered MAC */
    struct in_addr addr;           /* our IPv4 address; required */
    uint8_t prefix_len;            /* 24 */
    struct in_addr gateway;        /* 0.0.0.0: no default route */
    uint32_t mtu;                  /* 1500 (the device's MTU when started on one) */

    /* Packet buffers */
    uint32_t buf_count;            /* 4096 buffers in the pool */
    uint32_t buf_size;             /* 2048 bytes each; must hold mtu + 14 */

    /* ARP (RFC 826) */
    uint32_t arp_cache_size;       /* 256 entries */
    tapir_time_t arp_entry_ttl;    /* 60 s */
    uint32_t arp_retries;          /* 3 requests before giving up */
    tapir_time_t arp_retry_interval; /* 1 s between requests */
    uint32_t arp_queue_len;        /* 16 packets waiting per unresolved address */

    /* IPv4 (RFC 791, RFC 1122) */
    uint8_t ip_ttl;                /* 64 */
    tapir_time_t ipfrag_timeout;   /* 30 s */
    uint32_t ipfrag_mem_limit;     /* 256 KiB for all datagrams being reassembled */
    uint32_t ipfrag_max_datagrams; /* 64 datagrams being reassembled at once */

    /* ICMP (RFC 792) */
    uint32_t icmp_error_burst;     /* 10 errors may go at once ... */
    uint32_t icmp_errors_per_sec;  /* ... then 100 per second (token bucket) */

    /* TCP (RFC 9293) */
    tapir_time_t msl;              /* 30 s; TIME_WAIT lasts 2*MSL */
    uint32_t tcp_sndbuf;           /* 256 KiB send buffer per connection */
    uint32_t tcp_rcvbuf;           /* 256 KiB receive buffer per connection */
    uint16_t tcp_mss;              /* 0: from the MTU (mtu - 40) */
    tapir_time_t rto_initial;      /* 1 s (RFC 6298 2.1) */
    tapir_time_t rto_min;          /* 200 ms */
    tapir_time_t rto_max;          /* 60 s */
    uint32_t tcp_max_retries;      /* 15 retransmissions, then ETIMEDOUT */
    uint32_t tcp_syn_retries;      /* 8 SYN retransmissions (last at 183 s, MUST-23's 3 min), then ETIMEDOUT at 243 s */
    tapir_time_t delack_timeout;   /* 40 ms (must stay below rto_min; RFC 9293 3.8.6.3: <= 200 ms) */
    tapir_time_t keepalive_idle;   /* 2 h (used only when keepalive is on) */
    tapir_time_t keepalive_intvl;  /* 75 s */
    uint32_t keepalive_cnt;        /* 9 */
    uint32_t tcp_backlog_max;      /* 4096: cap on listen(backlog) */
    uint32_t tcp_syn_queue_max;    /* 1024 half-open connections per listener */
    uint32_t tcp_max_connections;  /* 65536 connections per stack */
    uint32_t tcp_ooo_max_bytes;    /* 0: as large as the receive buffer */
    uint32_t tcp_rst_per_sec;      /* 1000 RSTs/challenge ACKs per second */
    tapir_time_t tcp_oow_ack_interval; /* 500 ms: at most one ACK per connection per interval for unacceptable pure ACKs (0: no limit) */
    bool tcp_timestamps;           /* true: offer timestamps (RFC 7323 3-5: RTTM, PAWS) */
    bool tcp_sack;                 /* true: offer SACK (RFC 2018) and recover by RFC 6675 */
    bool tcp_limited_transmit;     /* true: Limited Transmit on the first two duplicate ACKs (RFC 3042) */
    bool tcp_undo;                 /* true: undo a reduction found spurious (RFC 3522/3708 detection, RFC 4015 response) */
    char tcp_congestion[16];       /* "cubic" (RFC 9438); "reno"/"newreno" (RFC 5681/6582) */

    /* Runtime (tapir_stack_start only; see enum tapir_tx_thread) */
    enum tapir_tx_thread tx_thread; /* AUTO: a writer thread for bursts on a plain device */

    /* Randomness: ISN key (RFC 6528), ephemeral ports, random MAC.
     * tapir_config_init() draws it from getrandom(); set it for replayable runs. */
    uint64_t random_seed;
};

/* Fill cfg with the documented defaults (and a random seed). */
void tapir_config_init(struct tapir_config *cfg);

/* Counters, each a uint64_t field named as in tapir/counters.h. */
enum tapir_drop_reason {
#define TAPIR_X_DROP_ENUM(name, desc) TAPIR_DROP_##name,
    TAPIR_DROP_REASONS(TAPIR_X_DROP_ENUM)
#undef TAPIR_X_DROP_ENUM
    TAPIR_DROP__COUNT
};

struct tapir_stats {
#define TAPIR_X_STAT_FIELD(name, desc) uint64_t name;
    TAPIR_COUNTERS(TAPIR_X_STAT_FIELD)
#undef TAPIR_X_STAT_FIELD
    uint64_t drops[TAPIR_DROP__COUNT];  /* indexed by enum tapir_drop_reason */
    uint64_t drops_total;
};

const char *tapir_drop_reason_name(enum tapir_drop_reason r);  /* "IP_BAD_CHECKSUM" */
const char *tapir_drop_reason_text(enum tapir_drop_reason r);  /* a sentence */
/* Iterate the named counters: returns false past the last one. */
bool tapir_stats_counter(const struct tapir_stats *st, size_t index,
                         const char **name, uint64_t *value);

typedef struct tapir_stack tapir_stack;

/* Called by the core for every frame it emits (synchronously, from inside
 * input/poll/API calls). Return 0, or a negative errno if the frame was not
 * sent (it is then counted as OUTPUT_FAILED). The frame is only valid during
 * the call. */
typedef int (*tapir_output_fn)(void *ctx, const uint8_t *frame, size_t len);

/* ---- offloads: what travels beside a frame (virtio-net header) ----------- */
/* Device / output capabilities (struct tapir_dev.offloads, the caps given
 * to tapir_stack_set_output_meta). */
#define TAPIR_OFFLOAD_CSUM 1u   /* the device completes partial TCP checksums */
#define TAPIR_OFFLOAD_TSO4 2u   /* the device segments large TCP/IPv4 frames */
/* gso_type values (as virtio-net's VIRTIO_NET_HDR_GSO_*). */
#define TAPIR_GSO_NONE  0
#define TAPIR_GSO_TCPV4 1
/* Metadata of one frame. Received: what the device said about it (a GSO
 * segment of up to 64 KiB, a checksum the kernel vouches for or left
 * partial). Sent: gso_size is the payload per wire segment of a large TCP
 * frame; csum_partial means the checksum field at csum_start + csum_offset
 * (offsets from the frame start, link header included) holds only the
 * pseudo-header sum and the device completes it over [csum_start, end). */
struct tapir_frame_meta {
    uint16_t gso_size;
    uint8_t gso_type;
    bool csum_partial;
    uint16_t csum_start, csum_offset;
    bool csum_valid;        /* received: the checksums were already verified */
};
typedef int (*tapir_output_meta_fn)(void *ctx, const uint8_t *frame, size_t len,
                                    const struct tapir_frame_meta *meta);

/* ---- TCP states and the state-change hook -------------------------------- */
/* RFC 9293 3.3.2, Figure 5. */
enum tapir_tcp_state {
    TAPIR_TCP_CLOSED = 0,
    TAPIR_TCP_LISTEN,
    TAPIR_TCP_SYN_SENT,
    TAPIR_TCP_SYN_RECEIVED,
    TAPIR_TCP_ESTABLISHED,
    TAPIR_TCP_FIN_WAIT_1,
    TAPIR_TCP_FIN_WAIT_2,
    TAPIR_TCP_CLOSE_WAIT,
    TAPIR_TCP_CLOSING,
    TAPIR_TCP_LAST_ACK,
    TAPIR_TCP_TIME_WAIT,
    TAPIR_TCP__STATE_COUNT
};
const char *tapir_tcp_state_name(enum tapir_tcp_state st);  /* "SYN_SENT" */

/* One state change of one connection, as recorded by the core.
 *
 * conn identifies the connection while it lives: it is the address of the
 * core's connection block, an opaque value (never dereference it). One
 * exception: an orphan (a connection its owner closed) in TIME_WAIT is
 * replaced by a compact record once it has sent its last ACK, and its
 * block goes back to the core's spare pool. The record's remaining events
 * (TIME_WAIT -> CLOSED by the 2MSL timer, or when a new SYN reopens it)
 * carry the conn its connection had, so the ladder of a connection reads
 * as one; but its block may be given to a new connection at once, which
 * then reports the same conn, and so may the records of further orphans
 * that used the block after it (a client's churn can leave many records
 * with one conn). Until a record's TIME_WAIT -> CLOSED they are told apart
 * by the 4-tuple; every event of a record starts from TIME_WAIT. */
struct tapir_state_change {
    struct in_addr local_addr, remote_addr;
    uint16_t local_port, remote_port;        /* host order */
    enum tapir_tcp_state from, to;
    const char *cause;                       /* e.g. "rcv SYN,ACK", "close()", "2MSL timer" */
    tapir_time_t when;
    const void *conn;                        /* identifies the connection while it lives (above) */
};
typedef void (*tapir_state_hook)(void *ctx, const struct tapir_state_change *ch);
/* Called for every state change of every connection of s (from inside the
 * core, with its lock held when a thread drives it: do not call tapir API
 * functions from the hook). NULL removes it. */
void tapir_stack_set_state_hook(tapir_stack *s, tapir_state_hook fn, void *ctx);

/* Per-connection information, like Linux's TCP_INFO. Times in microseconds. */
struct tapir_tcp_info {
    enum tapir_tcp_state state;
    uint32_t rtt_us, rttvar_us, rto_us;
    uint32_t snd_mss, rcv_mss;
    uint32_t cwnd, ssthresh;                 /* bytes */
    uint32_t snd_wnd, rcv_wnd;               /* bytes */
    uint32_t unacked;                        /* bytes in flight */
    uint32_t retransmits;                    /* consecutive, for the current RTO */
    uint64_t total_retrans;                  /* segments retransmitted */
    uint64_t bytes_sent, bytes_received;
    char congestion[16];                     /* "cubic", "newreno" */
    uint8_t options;                         /* TAPIR_TCPI_OPT_* negotiated */
    uint8_t snd_wscale, rcv_wscale;          /* shifts in use (0 without window scaling) */
    uint32_t sacked_bytes;                   /* bytes above snd_una the peer SACKed */
    /* Buffer sizing: the current limits, which start at 64 KiB and grow with
     * the bandwidth-delay product up to tcp_sndbuf / tcp_rcvbuf (fixed when
     * set with SO_SNDBUF / SO_RCVBUF), and the memory the buffers hold now. */
    uint32_t sndbuf_limit, rcvwnd_limit;
    uint32_t sndbuf_alloc, rcvbuf_alloc;
};
#define TAPIR_TCPI_OPT_TIMESTAMPS 1u
#define TAPIR_TCPI_OPT_SACK       2u
#define TAPIR_TCPI_OPT_WSCALE     4u

/* ---- the sans-IO core ---------------------------------------------------- */
int  tapir_stack_create(const struct tapir_config *cfg, tapir_stack **out);
void tapir_stack_destroy(tapir_stack *s);
void tapir_stack_set_output(tapir_stack *s, tapir_output_fn fn, void *ctx);
/* Announce ourselves (gratuitous ARP on Ethernet links). Call once the output
 * is set and the link is up; tapir_stack_start() does it. */
void tapir_stack_link_up(tapir_stack *s, tapir_time_t now);
void tapir_stack_input(tapir_stack *s, const uint8_t *frame, size_t len, tapir_time_t now);
/* A frame with its metadata (meta NULL: as tapir_stack_input). */
void tapir_stack_input_meta(tapir_stack *s, const uint8_t *frame, size_t len, tapir_time_t now,
                            const struct tapir_frame_meta *meta);
/* Output with metadata, to a device offering caps (TAPIR_OFFLOAD_*): with
 * TSO4 (and CSUM, which TSO needs) TCP emits frames of up to 64 KiB, with
 * CSUM it leaves TCP checksums partial. Replaces tapir_stack_set_output. */
int tapir_stack_set_output_meta(tapir_stack *s, tapir_output_meta_fn fn, void *ctx, uint32_t caps);
void tapir_stack_poll(tapir_stack *s, tapir_time_t now);
/* Around several tapir_stack_input calls (the frames one wake-up found):
 * the TCP output and notifications owed by in-order segments go out once
 * per connection at _end ("send the ACKs owed once"). Call _end before
 * anything else (poll, socket calls) touches the stack. */
void tapir_stack_batch_begin(tapir_stack *s);
void tapir_stack_batch_end(tapir_stack *s);
tapir_time_t tapir_stack_next_deadline(const tapir_stack *s);  /* TAPIR_TIME_NEVER if none */
void tapir_stack_get_stats(const tapir_stack *s, struct tapir_stats *out);
const struct tapir_config *tapir_stack_config(const tapir_stack *s);
void tapir_stack_mac(const tapir_stack *s, uint8_t mac[6]);

/* ---- devices (src/dev) -------------------------------------------------- */
struct tapir_dev;
struct tapir_dev_ops {
    /* Send one frame (an IPv4 packet on an IP link). 0 or -errno. */
    int (*send)(struct tapir_dev *dev, const uint8_t *frame, size_t len);
    /* Receive one frame without blocking: its length, -EAGAIN if none, or -errno. */
    long (*recv)(struct tapir_dev *dev, uint8_t *buf, size_t cap);
    void (*destroy)(struct tapir_dev *dev);
};
/* A device with offloads also moves each frame's metadata (a separate table
 * so that existing tapir_dev_ops initializers stay complete). */
struct tapir_dev_meta_ops {
    int (*send_meta)(struct tapir_dev *dev, const uint8_t *frame, size_t len,
                     const struct tapir_frame_meta *meta);
    /* As recv; meta is filled for the frame returned. */
    long (*recv_meta)(struct tapir_dev *dev, uint8_t *buf, size_t cap, struct tapir_frame_meta *meta);
};
struct tapir_dev {
    const struct tapir_dev_ops *ops;
    enum tapir_link_type link;
    int fd;                 /* readable when a frame waits; -1 if none (vlink) */
    uint32_t mtu;
    bool has_mac;           /* mac is the device's own suggestion */
    uint8_t mac[6];
    char name[32];
    const struct tapir_dev_meta_ops *meta_ops;   /* NULL: frames without metadata */
    uint32_t offloads;      /* TAPIR_OFFLOAD_* the device performs (0: none) */
    uint32_t max_frame;     /* largest frame it carries, 0: mtu + link header */
    bool concurrent_send;   /* send may run on one thread while recv runs on
                               another (a writer thread may be used) */
};
static inline int tapir_dev_send(struct tapir_dev *d, const uint8_t *f, size_t n) { return d->ops->send(d, f, n); }
static inline long tapir_dev_recv(struct tapir_dev *d, uint8_t *b, size_t cap) { return d->ops->recv(d, b, cap); }
static inline void tapir_dev_destroy(struct tapir_dev *d) { if (d) d->ops->destroy(d); }

/* TAP (IFF_TAP | IFF_NO_PI): attach to the persistent device NAME, or create
 * it if missing (needs CAP_NET_ADMIN). On failure a sentence is put in err. */
int tapir_tap_open(const char *name, struct tapir_dev **out, char *err, size_t errlen);
/* TAP with options. offload: IFF_VNET_HDR with the 10-byte struct
 * virtio_net_hdr and TUNSETOFFLOAD(TUN_F_CSUM | TUN_F_TSO4): the kernel
 * hands over 64 KiB GSO segments and takes TSO frames and partial
 * checksums (dev->offloads, dev->max_frame say so). */
struct tapir_tap_opts {
    bool offload;
};
int tapir_tap_open_opts(const char *name, const struct tapir_tap_opts *opts, struct tapir_dev **out,
                        char *err, size_t errlen);
/* TUN (IFF_TUN | IFF_NO_PI): an IP link. */
int tapir_tun_open(const char *name, struct tapir_dev **out, char *err, size_t errlen);
/* pcap decorator: every frame in and out of inner is written to path
 * (LINKTYPE_ETHERNET or LINKTYPE_RAW). Takes ownership of inner. */
int tapir_pcap_wrap(struct tapir_dev *inner, const char *path, struct tapir_dev **out);

/* ---- the runtime (src/sock): a thread drives the core -------------------- */
/* Create a stack from cfg on dev (taking ownership of dev) and start its
 * thread. The MTU (and MAC, if cfg's is zero) come from the device. */
int  tapir_stack_start(const struct tapir_config *cfg, struct tapir_dev *dev, tapir_stack **out);
/* Stop the thread, then destroy the stack and its device. */
void tapir_stack_stop(tapir_stack *s);
/* The stack the socket layer uses when none is named: the first one started
 * and still running, unless set here (NULL: back to that rule). */
void tapir_set_default_stack(tapir_stack *s);
/* Copy the counters of s, taking its runtime lock when a thread drives it
 * (tapir_stack_get_stats does not lock). */
void tapir_stack_snapshot_stats(tapir_stack *s, struct tapir_stats *out);
/* Caller-driven mode (on by default): an application thread that blocks in
 * read/recv/accept/connect/poll on a socket of s waits on the device itself
 * and runs the core on its own thread, so a reply needs no hand-off from the
 * stack thread (which stays the fallback for timers and for frames nobody
 * waits for). spin_us: how long such a thread busy-polls the device before
 * it sleeps (0: never; useful when the peer runs on another CPU).
 * 0 or -EINVAL (s not started by tapir_stack_start). */
int  tapir_stack_set_caller_drive(tapir_stack *s, bool on, unsigned spin_us);

/* What the writer thread did (tapir_config.tx_thread). */
struct tapir_tx_thread_stats {
    bool running;              /* a writer thread exists for this stack */
    uint64_t frames_inline;    /* written by the thread that ran the core */
    uint64_t frames_queued;    /* handed to the writer thread */
    uint64_t frames_waiting;   /* of those, not yet written (now) */
    uint64_t write_errors;     /* queued frames the device refused (dropped) */
    uint64_t ring_full_waits;  /* the core waited for room in the ring */
    uint64_t writer_wakeups;   /* the writer was asleep and had to be woken */
};
/* 0, or -EINVAL (s not started by tapir_stack_start). */
int  tapir_stack_tx_thread_stats(tapir_stack *s, struct tapir_tx_thread_stats *out);

#ifdef __cplusplus
}
#endif
#endif
