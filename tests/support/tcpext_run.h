/* One-way bulk transfers between two stacks over vlink for the TCP
 * extension simulations (tests/sim/test_tcp_ext_*.c): A connects to B and
 * sends a pattern, B checks it; a filter on A's output drops the first
 * segment that carries each of a list of stream offsets, so runs with
 * different options see exactly the same losses; A's tcp_info is sampled
 * at a fixed interval of virtual time. */
#ifndef TAPIR_TEST_TCPEXT_RUN_H
#define TAPIR_TEST_TCPEXT_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tapir/tapir.h"

#define TCPEXT_MAX_DROPS 64

struct tcpext_case {
    void (*tweak)(struct tapir_config *cfg);    /* both stacks; may be NULL */
    tapir_time_t delay;                         /* one-way */
    uint64_t bytes;                             /* A -> B */
    uint64_t drops[TCPEXT_MAX_DROPS];           /* stream offsets whose first carrier is lost */
    size_t ndrops;
    tapir_time_t limit;                         /* virtual time allowed */
    tapir_time_t sample_every;                  /* 0: no sampling */
    void (*on_sample)(void *ctx, tapir_time_t since_start, const struct tapir_tcp_info *info);
    void *ctx;
};

struct tcpext_result {
    bool ok;
    char why[256];
    tapir_time_t elapsed;               /* connect() to the last byte read by B */
    uint64_t rtos, retransmits, fast_retransmits, sack_recoveries, dropped;
    uint64_t limited_transmits;         /* RFC 3042 segments A sent */
    struct tapir_tcp_info a_info;       /* A's connection when B had everything */
};

void tcpext_run(const struct tcpext_case *tc, struct tcpext_result *res);

#endif
