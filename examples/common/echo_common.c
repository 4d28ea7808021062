/* Shared by echo_server and echo_client (echo_common.h). */
#include "common/echo_common.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tapir/socket.h"

void echo_default_link(struct cli_link_opts *o)
{
    memset(o, 0, sizeof *o);
    o->dev = "tap0";
    cli_parse_cidr("10.0.0.2/24", &o->ip, &o->prefix_len);
    o->have_ip = true;
}

void echo_default_tcp(struct echo_tcp_opts *t)
{
    t->msl_seconds = -1;
    t->syn_retries = -1;
    t->retries = -1;
}

static int number(const char *prog, const char *opt, const char *text, double max, double *out)
{
    char *end;
    double v = text ? strtod(text, &end) : 0;
    if (!text || end == text || *end || v < 0 || v > max) {
        fprintf(stderr, "%s: %s needs a number from 0 to %g\n", prog, opt, max);
        return -1;
    }
    *out = v;
    return 0;
}

int echo_parse_tcp_opt(int argc, char **argv, int *i, struct echo_tcp_opts *t)
{
    const char *opt = argv[*i];
    const char *val = *i + 1 < argc ? argv[*i + 1] : NULL;
    double v;
    if (strcmp(opt, "--msl") == 0) {
        if (number(argv[0], opt, val, 3600, &v) < 0)
            return -1;
        t->msl_seconds = v;
    } else if (strcmp(opt, "--syn-retries") == 0 || strcmp(opt, "--retries") == 0) {
        if (number(argv[0], opt, val, 100, &v) < 0)
            return -1;
        if (opt[2] == 's')
            t->syn_retries = (int)v;
        else
            t->retries = (int)v;
    } else {
        return 0;
    }
    *i += 2;
    return 1;
}

int echo_parse_shared_opt(int argc, char **argv, int *i, struct cli_link_opts *link,
                          struct echo_tcp_opts *tcp, bool *verbose)
{
    if (strcmp(argv[*i], "-v") == 0) {
        *verbose = true;
        *i += 1;
        return 1;
    }
    int rc = cli_parse_link_opt(argc, argv, i, link);
    return rc != 0 ? rc : echo_parse_tcp_opt(argc, argv, i, tcp);
}

void echo_apply_tcp_opts(const struct echo_tcp_opts *t, struct tapir_config *cfg)
{
    if (t->msl_seconds >= 0)
        cfg->msl = (tapir_time_t)(t->msl_seconds * 1e6);
    if (t->syn_retries >= 0)
        cfg->tcp_syn_retries = (uint32_t)t->syn_retries;
    if (t->retries >= 0)
        cfg->tcp_max_retries = (uint32_t)t->retries;
}

/* Runs inside the stack (its lock held): print and return, nothing more. */
static void print_state_change(void *ctx, const struct tapir_state_change *ch)
{
    char l[INET_ADDRSTRLEN], r[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &ch->local_addr, l, sizeof l);
    inet_ntop(AF_INET, &ch->remote_addr, r, sizeof r);
    fprintf(stderr, "[%s] %s:%u <-> %s:%u %s -> %s (%s)\n", (const char *)ctx,
            l, ch->local_port, r, ch->remote_port,
            tapir_tcp_state_name(ch->from), tapir_tcp_state_name(ch->to),
            ch->cause ? ch->cause : "?");
}

void echo_trace_states(tapir_stack *s, const char *who)
{
    tapir_stack_hook_states(s, print_state_change, (void *)who);
}
