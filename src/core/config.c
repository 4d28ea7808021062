/* Defaults for struct tapir_config, and the names of counters. */
#include <string.h>
#include <sys/random.h>

#include "tapir/tapir.h"

void tapir_config_init(struct tapir_config *c)
{
    memset(c, 0, sizeof *c);
    c->link = TAPIR_LINK_ETHERNET;
    c->prefix_len = 24;
    c->mtu = 1500;
    c->buf_count = 4096;
    c->buf_size = 2048;
    c->arp_cache_size = 256;
    c->arp_entry_ttl = TAPIR_SEC(60);
    c->arp_retries = 3;
    c->arp_retry_interval = TAPIR_SEC(1);
    c->arp_queue_len = 16;
    c->ip_ttl = 64;
    c->ipfrag_timeout = TAPIR_SEC(30);
    c->ipfrag_mem_limit = 256 * 1024;
    c->ipfrag_max_datagrams = 64;
    c->icmp_error_burst = 10;
    c->icmp_errors_per_sec = 100;
    c->msl = TAPIR_SEC(30);
    c->tcp_sndbuf = 256 * 1024;
    c->tcp_rcvbuf = 256 * 1024;
    c->tcp_mss = 0;
    c->rto_initial = TAPIR_SEC(1);
    c->rto_min = TAPIR_MSEC(200);
    c->rto_max = TAPIR_SEC(60);
    c->tcp_max_retries = 15;
    /* RFC 9293 3.8.3 MUST-23: a SYN is retransmitted for at least 3 minutes.
     * The RTO starts at 1 s and doubles up to rto_max (60 s): SYNs go at
     * 0 1 3 7 15 31 63 123 183 s and the attempt fails at 243 s. 7 retries
     * would send the last SYN at 123 s and give up at 183 s, barely past
     * 3 minutes; 6 (Linux's default) gives up at 127 s. */
    c->tcp_syn_retries = 8;
    /* 40 ms as Linux (RFC 1122 4.2.3.2 allows up to 500 ms, RFC 9293 says
     * 200 ms at most): below the 200 ms minimum RTO, so a lone segment whose
     * ACK is delayed is not retransmitted before the ACK can arrive. */
    c->delack_timeout = TAPIR_MSEC(40);
    c->keepalive_idle = TAPIR_SEC(7200);
    c->keepalive_intvl = TAPIR_SEC(75);
    c->keepalive_cnt = 9;
    c->tcp_backlog_max = 4096;
    c->tcp_syn_queue_max = 1024;
    c->tcp_max_connections = 65536;
    c->tcp_ooo_max_bytes = 0;
    c->tcp_rst_per_sec = 1000;
    c->tcp_oow_ack_interval = TAPIR_MSEC(500);  /* as Linux's tcp_invalid_ratelimit */
    c->tcp_timestamps = true;
    c->tcp_sack = true;
    c->tcp_limited_transmit = true;     /* RFC 5681 3.2: a sender SHOULD use it */
    c->tcp_undo = true;                 /* RFC 4015, RFC 9438 4.9 (Linux undoes too) */
    strcpy(c->tcp_congestion, "cubic");
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != (ssize_t)sizeof seed || seed == 0)
        seed = 0x9e3779b97f4a7c15ull ^ (uint64_t)(uintptr_t)c;   /* entropy not ready: still distinct */
    c->random_seed = seed;
}

static const char *const drop_names[] = {
#define X(name, desc) #name,
    TAPIR_DROP_REASONS(X)
#undef X
};
static const char *const drop_texts[] = {
#define X(name, desc) desc,
    TAPIR_DROP_REASONS(X)
#undef X
};

const char *tapir_drop_reason_name(enum tapir_drop_reason r)
{
    return (unsigned)r < TAPIR_DROP__COUNT ? drop_names[r] : "?";
}

const char *tapir_drop_reason_text(enum tapir_drop_reason r)
{
    return (unsigned)r < TAPIR_DROP__COUNT ? drop_texts[r] : "?";
}

bool tapir_stats_counter(const struct tapir_stats *st, size_t index, const char **name, uint64_t *value)
{
    static const char *const names[] = {
#define X(n, desc) #n,
        TAPIR_COUNTERS(X)
#undef X
    };
    const size_t offsets[] = {
#define X(n, desc) offsetof(struct tapir_stats, n),
        TAPIR_COUNTERS(X)
#undef X
    };
    if (index >= sizeof names / sizeof names[0])
        return false;
    *name = names[index];
    memcpy(value, (const char *)st + offsets[index], sizeof *value);
    return true;
}

const char *tapir_tcp_state_name(enum tapir_tcp_state st)
{
    static const char *const names[TAPIR_TCP__STATE_COUNT] = {
        "CLOSED", "LISTEN", "SYN_SENT", "SYN_RECEIVED", "ESTABLISHED", "FIN_WAIT_1",
        "FIN_WAIT_2", "CLOSE_WAIT", "CLOSING", "LAST_ACK", "TIME_WAIT",
    };
    return (unsigned)st < TAPIR_TCP__STATE_COUNT ? names[st] : "?";
}
