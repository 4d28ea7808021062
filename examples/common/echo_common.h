/* What echo_server and echo_client share: their default link, the TCP
 * tuning options (--msl, --syn-retries, --retries), and the -v printer of
 * connection state changes. */
#ifndef TAPIR_EXAMPLES_ECHO_COMMON_H
#define TAPIR_EXAMPLES_ECHO_COMMON_H

#include "common/cli.h"
#include "tapir/tapir.h"

struct echo_tcp_opts {
    double msl_seconds;        /* --msl S: < 0 keeps the default (30 s) */
    int syn_retries;           /* --syn-retries N: < 0 keeps the default (8) */
    int retries;               /* --retries N: < 0 keeps the default (15) */
};

#define ECHO_TCP_USAGE \
    "  --msl SECONDS     maximum segment lifetime; TIME_WAIT lasts 2*MSL (default 30)\n" \
    "  --syn-retries N   SYN retransmissions before ETIMEDOUT (default 8: about 4 min)\n" \
    "  --retries N       data retransmissions before ETIMEDOUT (default 15)\n" \
    "  -v                print every connection state change to stderr\n"

/* Link defaults of both programs: --dev tap0 --ip 10.0.0.2/24. */
void echo_default_link(struct cli_link_opts *o);
void echo_default_tcp(struct echo_tcp_opts *t);
/* Like cli_parse_link_opt, for the options of ECHO_TCP_USAGE but -v. */
int echo_parse_tcp_opt(int argc, char **argv, int *i, struct echo_tcp_opts *t);
void echo_apply_tcp_opts(const struct echo_tcp_opts *t, struct tapir_config *cfg);
/* The options both programs take: -v, the link options (CLI_LINK_USAGE) and
 * those of ECHO_TCP_USAGE. 1 if argv[*i] was one (consumed, *i advanced),
 * 0 if not, -1 after printing what was wrong with it. */
int echo_parse_shared_opt(int argc, char **argv, int *i, struct cli_link_opts *link,
                          struct echo_tcp_opts *tcp, bool *verbose);
/* Print state changes as
 *   [server] 10.0.0.2:7 <-> 10.0.0.3:49152 SYN_RECEIVED -> ESTABLISHED (rcv ACK)
 * with `who` in the brackets (a string that must outlive the stack). */
void echo_trace_states(tapir_stack *s, const char *who);

#endif
