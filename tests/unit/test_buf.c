/* Packet buffers: pool accounting, push/put/pull bounds, and exhaustion
 * inside a running stack (NO_BUFFER counted, frame dropped, no crash). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/ether.h"
#include "core/stack.h"
#include "harness.h"
#include "net_frames.h"

START_TEST(pool_alloc_free_accounting)
{
    struct buf_pool p;
    uint64_t fails = 0;
    ck_assert_int_eq(buf_pool_init(&p, 3, 512, &fails), 0);
    struct buf *a = buf_alloc(&p), *b = buf_alloc(&p), *c = buf_alloc(&p);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_ptr_nonnull(c);
    ck_assert_uint_eq(p.in_use, 3);
    ck_assert_ptr_null(buf_alloc(&p));
    ck_assert_uint_eq(fails, 1);
    a->next = b;
    buf_free_chain(&p, a);
    buf_free(&p, c);
    ck_assert_uint_eq(p.in_use, 0);
    buf_pool_destroy(&p);
}
END_TEST

START_TEST(push_put_pull_bounds)
{
    struct buf_pool p;
    ck_assert_int_eq(buf_pool_init(&p, 1, BUF_HEADROOM + 100, NULL), 0);
    struct buf *b = buf_alloc(&p);
    ck_assert_uint_eq(buf_headroom(b), BUF_HEADROOM);
    ck_assert_uint_eq(buf_tailroom(b), 100);
    ck_assert_ptr_null(buf_put(b, 101));
    ck_assert_ptr_nonnull(buf_put(b, 100));
    ck_assert_ptr_null(buf_push(b, BUF_HEADROOM + 1));
    ck_assert_ptr_nonnull(buf_push(b, BUF_HEADROOM));
    ck_assert_uint_eq(b->len, BUF_HEADROOM + 100);
    ck_assert_ptr_null(buf_pull(b, b->len + 1));
    ck_assert_ptr_nonnull(buf_pull(b, 10));
    ck_assert_uint_eq(b->len, BUF_HEADROOM + 90);
    buf_free(&p, b);
    buf_pool_destroy(&p);
}
END_TEST

START_TEST(exhausted_pool_drops_reply_counted)
{
    struct tapir_config cfg;
    harness_config(&cfg, "10.0.0.2", TAPIR_LINK_ETHERNET);
    cfg.buf_count = 8;
    tapir_stack *st;
    ck_assert_int_eq(tapir_stack_create(&cfg, &st), 0);
    struct net_capture *cap = net_capture_new();
    tapir_stack_set_output(st, net_capture_output, cap);
    struct buf *held[8];
    for (int i = 0; i < 8; i++)
        held[i] = buf_alloc(&st->pool);
    ck_assert_ptr_nonnull(held[7]);

    static const uint8_t peer[6] = {0x02, 1, 2, 3, 4, 5}, zero[6];
    uint8_t arp[28], frame[64];
    net_arp_build(arp, 1, peer, net_ip("10.0.0.1"), zero, net_ip("10.0.0.2"));
    size_t n = net_ether_wrap(frame, ether_broadcast, peer, 0x0806, arp, sizeof arp);
    tapir_stack_input(st, frame, n, 1);
    ck_assert_uint_eq(st->stats.drops[TAPIR_DROP_NO_BUFFER], 1);
    ck_assert_uint_eq(st->stats.buf_alloc_fail, 1);
    ck_assert_uint_eq(cap->count, 0);

    /* Once buffers are back the same request is answered. */
    for (int i = 0; i < 8; i++)
        buf_free(&st->pool, held[i]);
    tapir_stack_input(st, frame, n, 2);
    ck_assert_uint_eq(cap->count, 1);
    ck_assert_uint_eq(st->pool.in_use, 0);
    tapir_stack_destroy(st);
    net_capture_free(cap);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("buf");
    TCase *tc = tcase_create("pool");
    tcase_add_test(tc, pool_alloc_free_accounting);
    tcase_add_test(tc, push_put_pull_bounds);
    tcase_add_test(tc, exhausted_pool_drops_reply_counted);
    suite_add_tcase(s, tc);
    return harness_run(s);
}
