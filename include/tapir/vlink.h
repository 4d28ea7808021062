/* tapir — vlink: an in-memory link between two devices, for tests and
 * benchmarks, with seeded impairments.
 *
 *   struct tapir_vlink_params p;  tapir_vlink_params_init(&p);
 *   p.loss = 0.2;  p.seed = 42;
 *   struct tapir_dev *a, *b;      tapir_vlink_create(&p, &a, &b);
 *
 * Whatever one end send()s, the other end recv()s, once the frame's delivery
 * time has come. Each frame sent is, in this order, judged by the PRNG:
 * lost (p.loss), else possibly corrupted (p.corrupt: one random bit flipped,
 * past the Ethernet header on Ethernet links, since a real NIC's FCS would
 * discard a frame corrupted there), possibly held back (p.reorder: an extra
 * p.reorder_delay, so later frames overtake it), and possibly duplicated
 * (p.duplicate: a second copy with its own jitter). Its delivery time is
 * now + delay + a uniform jitter in [0, p.jitter]; frames due at the same
 * time arrive in the order sent.
 *
 * Two clocks:
 *  - virtual (default): the link's time is what tapir_vlink_set_time() says
 *    (both ends share it); fd is -1. Drive it with tests/support/sim.h.
 *  - realtime (p.realtime): the time is CLOCK_MONOTONIC in microseconds, and
 *    each end's fd is a timerfd that is readable exactly while a frame is due
 *    for that end (armed for the earliest delivery; drained by recv()), so a
 *    runtime thread can epoll it like a TAP fd. The two ends may be driven by
 *    two threads, and one end's send and recv may run on two threads at once
 *    (dev->concurrent_send): a mutex guards the shared state in this mode.
 *
 * Replaying: the seed used (p.seed, or one drawn from getrandom() when 0) is
 * kept and returned by tapir_vlink_seed(); print it when a test fails.
 * Functions return 0 or a negative errno.
 */
#ifndef TAPIR_VLINK_H
#define TAPIR_VLINK_H

#include <stdbool.h>
#include <stdint.h>

#include "tapir/tapir.h"

#ifdef __cplusplus
extern "C" {
#endif

struct tapir_vlink_params {
    double loss;                  /* 0: probability that a frame is lost */
    double duplicate;             /* 0: probability that a frame is delivered twice */
    double reorder;               /* 0: probability that a frame is held back */
    double corrupt;               /* 0: probability that one bit of a frame flips */
    tapir_time_t delay;           /* 0: one-way delay */
    tapir_time_t jitter;          /* 0: extra delay, uniform in [0, jitter] */
    tapir_time_t reorder_delay;   /* 1 ms: how long a held-back frame waits */
    uint64_t seed;                /* 0: draw one (see tapir_vlink_seed) */
    uint32_t mtu;                 /* 1500: larger frames are refused (-EMSGSIZE) */
    enum tapir_link_type link;    /* ETHERNET: frames carry a 14-byte header */
    uint32_t queue_limit;         /* 4096 frames in flight per direction; more are dropped */
    bool realtime;                /* false: virtual clock */
};

/* Per-direction counters: what one end sent, and what became of it. */
struct tapir_vlink_stats {
    uint64_t sent;                /* frames accepted by send() */
    uint64_t lost;                /* dropped by p.loss */
    uint64_t duplicated;          /* extra copies made */
    uint64_t reordered;           /* held back by p.reorder */
    uint64_t corrupted;           /* had a bit flipped */
    uint64_t overflow;            /* dropped: queue_limit frames already in flight */
    uint64_t delivered;           /* handed to the other end by its recv() */
};

void tapir_vlink_params_init(struct tapir_vlink_params *p);
/* Two connected ends (struct tapir_dev, ops send/recv/destroy, named
 * "vlink-a"/"vlink-b"). Destroying both frees the link. */
int tapir_vlink_create(const struct tapir_vlink_params *p, struct tapir_dev **a, struct tapir_dev **b);
/* Virtual mode: set the shared clock (it never goes backwards). */
void tapir_vlink_set_time(struct tapir_dev *end, tapir_time_t now);
/* The link's current time (virtual, or CLOCK_MONOTONIC in realtime mode). */
tapir_time_t tapir_vlink_now(struct tapir_dev *end);
/* When the earliest frame waiting for end is due; TAPIR_TIME_NEVER if none. */
tapir_time_t tapir_vlink_next_delivery(struct tapir_dev *end);
/* Frames in flight toward end. */
uint32_t tapir_vlink_pending(struct tapir_dev *end);
/* Counters of the direction end -> peer. */
void tapir_vlink_get_stats(struct tapir_dev *end, struct tapir_vlink_stats *out);
/* Change the impairments (loss, duplicate, reorder, corrupt, delay, jitter,
 * reorder_delay) of both directions mid-run; the rest of p is ignored. */
void tapir_vlink_set_impairments(struct tapir_dev *end, const struct tapir_vlink_params *p);
/* The seed in use. */
uint64_t tapir_vlink_seed(struct tapir_dev *end);
/* True if dev is a vlink end. */
bool tapir_dev_is_vlink(const struct tapir_dev *dev);

#ifdef __cplusplus
}
#endif
#endif
