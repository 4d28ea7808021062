/* When a driving thread spins on the device before it sleeps (drive.c).
 *
 * A spin pays only when the peer can answer while we spin: from another
 * CPU. On the same CPU (a kernel peer, or a client and stack pinned
 * together) nothing arrives during the spin, and every spin is a delay
 * added to the round trip. So: spin while spins catch frames; after
 * SPIN_POLICY_MISSES spins in a row caught nothing, stop, and spin again
 * only as a probe, once every `probe_every` sleeps. Each probe that
 * catches nothing doubles that interval, up to SPIN_POLICY_PROBE_MAX; a
 * spin that catches a frame goes back to spinning every time. With a
 * fixed interval of 128, one round trip in 128 waited out a whole spin:
 * more than 1% of them, so the spin length showed in the 99th percentile
 * of the same-CPU RTT. With the back-off a same-CPU steady state probes
 * about once in 4096 sleeps, and a peer that moves to another CPU is
 * noticed within that many. Pure logic, no clock: tests drive it step
 * by step. */
#ifndef TAPIR_SOCK_SPIN_POLICY_H
#define TAPIR_SOCK_SPIN_POLICY_H

#include <stdbool.h>

#define SPIN_POLICY_MISSES 4u
#define SPIN_POLICY_PROBE_MIN 128u
#define SPIN_POLICY_PROBE_MAX 4096u

struct spin_policy {
    unsigned misses;        /* spins in a row that caught nothing */
    unsigned skips;         /* sleeps without a spin since the last spin */
    unsigned probe_every;   /* 0 until first used: SPIN_POLICY_PROBE_MIN */
};

/* How long to spin before this sleep: spin_us or 0. */
unsigned spin_policy_budget(struct spin_policy *p, unsigned spin_us);
/* What the spin of that sleep did (spun: the budget it was given). */
void spin_policy_result(struct spin_policy *p, unsigned spun, bool caught);

#endif
