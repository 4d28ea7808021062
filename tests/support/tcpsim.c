/* Two stacks over a vlink for the TCP simulations (see tcpsim.h). */
#include "tcpsim.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/stack.h"
#include "core/tcp.h"
#include "harness.h"

static void on_state(void *ctx, const struct tapir_state_change *ch)
{
    struct tcpsim_node *n = ctx;
    if (n->pair->trace_states)
        fprintf(stderr, "tcpsim %s %p %u->%u: %s -> %s (%s) at %llu\n", n == &n->pair->a ? "A" : "B", ch->conn,
                ch->local_port, ch->remote_port, tapir_tcp_state_name(ch->from), tapir_tcp_state_name(ch->to),
                ch->cause, (unsigned long long)ch->when);
    if (ch->from != TAPIR_TCP_CLOSED)
        n->in_state[ch->from]--;
    n->in_state[ch->to]++;
    n->arcs[ch->from][ch->to]++;
    for (size_t i = 0; i < n->nwatch; i++) {
        struct tcpsim_watched *w = &n->watch[i];
        if (w->conn != ch->conn)
            continue;
        w->state = ch->to;
        w->when = ch->when;
        if (ch->to == TAPIR_TCP_TIME_WAIT)
            w->entered_time_wait = ch->when;
        /* Once CLOSED (freed by the core after close()) the address may be
         * reused by a new connection: stop following it. */
        if (ch->to == TAPIR_TCP_CLOSED)
            w->conn = NULL;
        break;
    }
}

struct tcpsim_watched *tcpsim_watch(struct tcpsim_node *n, const void *c)
{
    if (n->nwatch >= TCPSIM_WATCH_MAX)
        return NULL;
    struct tcpsim_watched *w = &n->watch[n->nwatch++];
    memset(w, 0, sizeof *w);
    w->conn = c;
    w->state = tcp_state(c);
    return w;
}

static int traced_output(void *ctx, const uint8_t *frame, size_t len)
{
    struct tcpsim_node *n = ctx;
    pcap_writer_frame(n->pair->pcap, sim_now(n->pair->sim), frame, len);
    return tapir_dev_send(n->end, frame, len);
}

static void node_start(struct tcpsim_pair *p, struct tcpsim_node *n, const char *ip, uint64_t seed,
                       void (*tweak)(struct tapir_config *cfg), struct tapir_dev *end)
{
    struct tapir_config cfg;
    harness_config(&cfg, ip, TAPIR_LINK_IP);
    cfg.random_seed = seed;
    if (tweak)
        tweak(&cfg);
    if (tapir_stack_create(&cfg, &n->s) < 0) {
        fprintf(stderr, "tcpsim: cannot create stack %s\n", ip);
        abort();
    }
    n->end = end;
    n->pair = p;
    tapir_stack_set_state_hook(n->s, on_state, n);
    sim_add_stack(p->sim, n->s, end);
    if (p->pcap)
        tapir_stack_set_output(n->s, traced_output, n);
    /* API calls use the time of the stack's last input/poll: start its
     * clock at the sim's, so the first SYN is timed right. */
    tapir_stack_poll(n->s, sim_now(p->sim));
}

void tcpsim_pair_start(struct tcpsim_pair *p, const struct tapir_vlink_params *params, uint64_t stack_seed,
                       void (*tweak)(struct tapir_config *cfg), const char *pcap_path)
{
    memset(p, 0, sizeof *p);
    struct tapir_vlink_params vp;
    if (params) {
        vp = *params;
    } else {
        tapir_vlink_params_init(&vp);
        vp.delay = TAPIR_MSEC(1);
        vp.seed = 1;
    }
    vp.link = TAPIR_LINK_IP;
    struct tapir_dev *ea, *eb;
    if (tapir_vlink_create(&vp, &ea, &eb) < 0) {
        fprintf(stderr, "tcpsim: cannot create vlink\n");
        abort();
    }
    p->sim = sim_new(TAPIR_SEC(1));
    p->trace_states = getenv("TCPSIM_TRACE") != NULL;
    if (pcap_path) {
        p->pcap = pcap_writer_open(pcap_path, PCAP_LINKTYPE_RAW);
        if (!p->pcap)
            fprintf(stderr, "tcpsim: cannot write %s\n", pcap_path);
    }
    node_start(p, &p->a, "10.0.0.2", stack_seed, tweak, ea);
    node_start(p, &p->b, "10.0.0.3", stack_seed ^ 0x5bd1e995u, tweak, eb);
}

void tcpsim_pair_free(struct tcpsim_pair *p)
{
    sim_free(p->sim);
    tapir_stack_destroy(p->a.s);
    tapir_stack_destroy(p->b.s);
    pcap_writer_close(p->pcap);
    memset(p, 0, sizeof *p);
}

void tcpsim_sync(struct tcpsim_pair *p)
{
    tapir_stack_poll(p->a.s, sim_now(p->sim));
    tapir_stack_poll(p->b.s, sim_now(p->sim));
}

uint32_t tcpsim_bufs_in_use(const struct tcpsim_node *n) { return n->s->pool.in_use; }
uint32_t tcpsim_conns(const struct tcpsim_node *n) { return tcp_conn_count(n->s); }

uint64_t tcpsim_corruption_drops(const struct tcpsim_node *n)
{
    static const enum tapir_drop_reason reasons[] = {
        TAPIR_DROP_IP_TOO_SHORT, TAPIR_DROP_IP_BAD_VERSION, TAPIR_DROP_IP_BAD_IHL,
        TAPIR_DROP_IP_BAD_LENGTH, TAPIR_DROP_IP_BAD_CHECKSUM, TAPIR_DROP_TCP_TOO_SHORT,
        TAPIR_DROP_TCP_BAD_OFFSET, TAPIR_DROP_TCP_BAD_CHECKSUM, TAPIR_DROP_TCP_BAD_OPTIONS,
    };
    uint64_t sum = 0;
    for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++)
        sum += n->s->stats.drops[reasons[i]];
    return sum;
}

/* ---- pattern ------------------------------------------------------------ */

static uint64_t splitmix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* The 8 pattern bytes of stream offsets [8 * word, 8 * word + 8). */
static uint64_t pattern_word(uint64_t key, uint64_t word)
{
    return splitmix(key * 0x100000001b3ull ^ word);
}

uint8_t tcpsim_pattern_byte(uint64_t key, uint64_t off)
{
    return (uint8_t)(pattern_word(key, off >> 3) >> (8 * (off & 7)));
}

void tcpsim_pattern_fill(uint64_t key, uint64_t off, uint8_t *dst, size_t n)
{
    /* tcpsim_pattern_byte's values, one pattern_word per 8 bytes */
    size_t i = 0;
    while (i < n) {
        uint64_t word = pattern_word(key, (off + i) >> 3);
        for (unsigned b = (unsigned)((off + i) & 7); b < 8 && i < n; b++, i++)
            dst[i] = (uint8_t)(word >> (8 * b));
    }
}

/* ---- application end ---------------------------------------------------- */

void tcpsim_app_init(struct tcpsim_app *app, struct tcp_conn *c, uint64_t send_key, uint64_t to_send,
                     uint64_t recv_key, uint64_t to_recv)
{
    memset(app, 0, sizeof *app);
    app->c = c;
    app->send_key = send_key;
    app->to_send = to_send;
    app->recv_key = recv_key;
    app->to_recv = to_recv;
}

void tcpsim_app_pump(struct tcpsim_app *app)
{
    uint8_t chunk[sizeof app->out];
    if (!app->c)
        return;
    while (app->sent < app->to_send) {
        /* The pattern is made once per chunk, not on every try: a full
         * send buffer refuses most tries. */
        if (app->sent < app->out_off || app->sent >= app->out_off + app->out_len) {
            uint64_t left = app->to_send - app->sent;
            app->out_off = app->sent;
            app->out_len = left < sizeof app->out ? (size_t)left : sizeof app->out;
            tcpsim_pattern_fill(app->send_key, app->out_off, app->out, app->out_len);
        }
        size_t at = (size_t)(app->sent - app->out_off);
        size_t n = app->out_len - at;
        long r = tcp_send(app->c, app->out + at, n);
        if (r < 0) {
            if (r != -EAGAIN && !app->error)
                app->error = (int)r;
            break;
        }
        app->sent += (uint64_t)r;
        if ((size_t)r < n)
            break;
    }
    while (!app->eof) {
        long r = tcp_recv(app->c, chunk, sizeof chunk, false);
        if (r == 0) {
            app->eof = true;
            break;
        }
        if (r < 0) {
            if (r != -EAGAIN && !app->error)
                app->error = (int)r;
            break;
        }
        if (!app->mismatch) {
            uint8_t want[sizeof chunk];
            tcpsim_pattern_fill(app->recv_key, app->received, want, (size_t)r);
            for (long i = 0; i < r; i++) {
                uint64_t off = app->received + (uint64_t)i;
                if (off >= app->to_recv || chunk[i] != want[i]) {
                    app->mismatch = true;
                    app->mismatch_at = off;
                    break;
                }
            }
        }
        app->received += (uint64_t)r;
    }
}
