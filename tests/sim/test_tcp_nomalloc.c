/* "No malloc per segment in steady state" (issue 5), checked by counting
 * every heap allocation in the process: two stacks joined by a link made
 * of two fixed frame queues (so that the count is the stacks' alone), a
 * bulk transfer A -> B with the application reading and writing
 * through fixed buffers. After a warm-up of 8 MiB, during which the rings
 * grow to their working size, the next 32 MiB (some 23 000 segments each
 * way counted with ACKs) must allocate nothing, with loss-free in-order
 * delivery and with batched input (tapir_stack_batch_begin/end) too.
 * vlink, which the pure-core benchmark runs the stacks over, is checked on
 * its own: once its spare frames are there, frames cost no allocation.
 *
 * Counting: in the normal build this program's own malloc/calloc/realloc
 * (which interpose on libc's for the whole process, the tapir library
 * included) count and forward to glibc's; under AddressSanitizer, which
 * owns malloc, the sanitizer's allocation hooks count instead. */
#include <check.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/tcp_api.h"
#include "harness.h"
#include "tapir/tapir.h"
#include "tapir/vlink.h"

#include <arpa/inet.h>
static int inet_pton_ipv4(const char *ip, void *out) { return inet_pton(AF_INET, ip, out); }

#if defined(__SANITIZE_ADDRESS__)
#define COUNT_WITH_SANITIZER_HOOKS 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define COUNT_WITH_SANITIZER_HOOKS 1
#endif
#endif

static unsigned long allocations;

#ifdef COUNT_WITH_SANITIZER_HOOKS
/* From the sanitizer runtime's allocator interface (the header is not
 * always installed with gcc). */
int __sanitizer_install_malloc_and_free_hooks(void (*malloc_hook)(const volatile void *, size_t),
                                              void (*free_hook)(const volatile void *));
static void on_malloc(const volatile void *p, size_t n)
{
    (void)p;
    (void)n;
    allocations++;
}
static void on_free(const volatile void *p) { (void)p; }
static void counting_start(void) { __sanitizer_install_malloc_and_free_hooks(on_malloc, on_free); }
#else
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t n);
void *malloc(size_t n)
{
    allocations++;
    return __libc_malloc(n);
}
void *calloc(size_t n, size_t size)
{
    allocations++;
    return __libc_calloc(n, size);
}
void *realloc(void *p, size_t n)
{
    allocations++;
    return __libc_realloc(p, n);
}
static void counting_start(void) {}
#endif

/* ---- a link of two fixed frame queues ------------------------------------ */
#define QCAP 2048
#define FRAME_MAX 1600
struct frame_queue {
    uint8_t data[QCAP][FRAME_MAX];
    uint16_t len[QCAP];
    size_t head, n;
};
static struct frame_queue a_to_b, b_to_a;

static int queue_output(void *ctx, const uint8_t *frame, size_t len)
{
    struct frame_queue *q = ctx;
    if (q->n == QCAP || len > FRAME_MAX)
        return -ENOBUFS;
    size_t slot = (q->head + q->n) % QCAP;
    memcpy(q->data[slot], frame, len);
    q->len[slot] = (uint16_t)len;
    q->n++;
    return 0;
}

static void deliver(struct frame_queue *q, tapir_stack *to, tapir_time_t now, bool batched)
{
    if (batched)
        tapir_stack_batch_begin(to);
    while (q->n > 0) {
        tapir_stack_input(to, q->data[q->head], q->len[q->head], now);
        q->head = (q->head + 1) % QCAP;
        q->n--;
    }
    if (batched)
        tapir_stack_batch_end(to);
}

static tapir_stack *make_stack(const char *ip, uint64_t seed, struct frame_queue *out)
{
    struct tapir_config cfg;
    tapir_config_init(&cfg);
    cfg.link = TAPIR_LINK_IP;
    ck_assert_int_eq(inet_pton_ipv4(ip, &cfg.addr), 1);
    cfg.prefix_len = 24;
    cfg.random_seed = seed;
    tapir_stack *s;
    ck_assert_int_eq(tapir_stack_create(&cfg, &s), 0);
    tapir_stack_set_output(s, queue_output, out);
    return s;
}

static uint8_t pattern_at(uint64_t off) { return (uint8_t)(off * 7 + (off >> 11)); }

/* Bulk A -> B: returns the allocations counted while B received `measured`
 * bytes after an 8 MiB warm-up (the rings grow, by doubling, to their working
 * size: at most tcp_sndbuf/tcp_rcvbuf, reached as cwnd and the receive
 * window grow). */
static unsigned long steady_state_allocations(bool batched, uint64_t measured, uint64_t *segments)
{
    memset(&a_to_b, 0, sizeof a_to_b);
    memset(&b_to_a, 0, sizeof b_to_a);
    tapir_stack *a = make_stack("10.0.0.2", 11, &a_to_b);
    tapir_stack *b = make_stack("10.0.0.3", 12, &b_to_a);
    int err;
    struct tcp_conn *l = tcp_conn_new(b, &err), *ca = tcp_conn_new(a, &err), *cb = NULL;
    ck_assert_ptr_nonnull(l);
    ck_assert_ptr_nonnull(ca);
    ck_assert_int_eq(tcp_bind(l, 0, 5001), 0);
    ck_assert_int_eq(tcp_listen(l, 4), 0);
    ck_assert_int_eq(tcp_connect(ca, 0x0a000003u, 5001), -EINPROGRESS);

    static uint8_t sendbuf[64 * 1024], recvbuf[64 * 1024];
    const uint64_t warmup = 8 * 1024 * 1024, total = warmup + measured;
    uint64_t sent = 0, received = 0, mismatches = 0;
    unsigned long before = 0;
    uint64_t tx_before = 0;
    bool counting = false;
    tapir_time_t now = TAPIR_SEC(1);
    for (unsigned long step = 0; received < total; step++) {
        if (step >= 50u * 1000 * 1000)
            ck_abort_msg("no progress: %llu of %llu bytes", (unsigned long long)received,
                         (unsigned long long)total);
        now += 20;      /* microseconds of virtual time per round */
        deliver(&a_to_b, b, now, batched);
        deliver(&b_to_a, a, now, batched);
        if (tapir_stack_next_deadline(a) <= now)
            tapir_stack_poll(a, now);
        if (tapir_stack_next_deadline(b) <= now)
            tapir_stack_poll(b, now);
        if (!cb && tcp_accept(l, &cb) == 0)
            tcp_close(l);
        while (sent < total) {
            size_t n = total - sent < sizeof sendbuf ? (size_t)(total - sent) : sizeof sendbuf;
            for (size_t i = 0; i < n; i++)
                sendbuf[i] = pattern_at(sent + i);
            long k = tcp_send(ca, sendbuf, n);
            if (k <= 0)
                break;
            sent += (uint64_t)k;
        }
        while (cb) {
            long k = tcp_recv(cb, recvbuf, sizeof recvbuf, false);
            if (k <= 0)
                break;
            /* A plain comparison: Check's assertions allocate. */
            for (long i = 0; i < k; i++)
                if (recvbuf[i] != pattern_at(received + (uint64_t)i))
                    mismatches++;
            received += (uint64_t)k;
        }
        if (!counting && received >= warmup) {
            struct tapir_stats st;
            tapir_stack_get_stats(a, &st);
            tx_before = st.tcp_tx;
            before = allocations;
            counting = true;
        }
    }
    unsigned long during = allocations - before;
    ck_assert_uint_eq(mismatches, 0);
    struct tapir_stats st;
    tapir_stack_get_stats(a, &st);
    *segments = st.tcp_tx - tx_before;
    tcp_abort(ca);
    tcp_abort(cb);
    tapir_stack_destroy(a);
    tapir_stack_destroy(b);
    return during;
}

static void expect_no_allocations(bool batched, const char *label)
{
    counting_start();
    uint64_t segs;
    unsigned long n = steady_state_allocations(batched, 32u * 1024 * 1024, &segs);
    printf("%s: %lu allocations while A sent %llu segments (32 MiB)\n", label, n, (unsigned long long)segs);
    ck_assert_uint_gt(segs, 20000);
    ck_assert_uint_eq(n, 0);
}

START_TEST(steady_bulk_transfer_allocates_nothing)
{
    expect_no_allocations(false, "unbatched");
}
END_TEST

START_TEST(steady_bulk_transfer_with_batched_input_allocates_nothing)
{
    expect_no_allocations(true, "batched");
}
END_TEST

/* The counter itself works: a connection's first data grows its rings. */
START_TEST(the_counter_sees_the_rings_grow)
{
    counting_start();
    unsigned long before = allocations;
    void *p = malloc(100);
    ck_assert_uint_eq(allocations, before + 1);
    free(p);
    tapir_stack *s = make_stack("10.0.0.2", 1, &a_to_b);
    ck_assert_uint_gt(allocations, before + 1);
    tapir_stack_destroy(s);
}
END_TEST

/* vlink reuses delivered frames: after a first burst of `burst` full-size
 * frames, the same bursts again cost no allocation, with bytes intact. */
START_TEST(vlink_reuses_its_frames)
{
    counting_start();
    struct tapir_vlink_params p;
    tapir_vlink_params_init(&p);
    p.seed = 7;
    struct tapir_dev *a, *b;
    ck_assert_int_eq(tapir_vlink_create(&p, &a, &b), 0);
    static uint8_t frame[1514], got[1514];
    const unsigned burst = 256, rounds = 20;
    unsigned long before = 0, mismatches = 0, received = 0;
    for (unsigned r = 0; r < rounds; r++) {
        if (r == 1)
            before = allocations;
        for (unsigned i = 0; i < burst; i++) {
            memset(frame, (int)(r * burst + i), sizeof frame);
            if (tapir_dev_send(a, frame, sizeof frame) != 0)
                mismatches++;
        }
        for (unsigned i = 0; i < burst; i++) {
            long n = tapir_dev_recv(b, got, sizeof got);
            received += n == (long)sizeof got;
            if (n != (long)sizeof got || got[0] != (uint8_t)(r * burst + i) || got[1513] != got[0])
                mismatches++;
        }
    }
    unsigned long during = allocations - before;
    tapir_dev_destroy(a);
    tapir_dev_destroy(b);
    printf("vlink: %lu allocations for %u frames after the first burst\n", during, (rounds - 1) * burst);
    ck_assert_uint_eq(mismatches, 0);
    ck_assert_uint_eq(received, rounds * burst);
    ck_assert_uint_eq(during, 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tcp_nomalloc");
    TCase *t = tcase_create("nomalloc");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, the_counter_sees_the_rings_grow);
    tcase_add_test(t, steady_bulk_transfer_allocates_nothing);
    tcase_add_test(t, steady_bulk_transfer_with_batched_input_allocates_nothing);
    tcase_add_test(t, vlink_reuses_its_frames);
    suite_add_tcase(s, t);
    return harness_run(s);
}
