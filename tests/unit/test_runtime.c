/* The runtime (src/sock): the stack thread over a fake device made of a
 * datagram socketpair — frames reach the core, stop is prompt, the device's
 * MTU and MAC are applied, hooks run with the lock held, and the registry
 * answers "the default stack". */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "net_frames.h"
#include "sock/loop.h"
#include "sock/runtime.h"

struct sp_dev {
    struct tapir_dev dev;
    int peer;
};

static int sp_send(struct tapir_dev *d, const uint8_t *f, size_t n)
{
    return send(d->fd, f, n, MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t)n ? 0 : -EAGAIN;
}

static long sp_recv(struct tapir_dev *d, uint8_t *b, size_t cap)
{
    ssize_t n = recv(d->fd, b, cap, MSG_DONTWAIT);
    return n < 0 ? -errno : (long)n;
}

static void sp_destroy(struct tapir_dev *d)
{
    struct sp_dev *s = (struct sp_dev *)d;
    close(s->dev.fd);
    close(s->peer);
    free(s);
}

static const struct tapir_dev_ops sp_ops = {sp_send, sp_recv, sp_destroy};

static struct sp_dev *sp_new(uint32_t mtu)
{
    struct sp_dev *s = calloc(1, sizeof *s);
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
    s->dev.ops = &sp_ops;
    s->dev.link = TAPIR_LINK_ETHERNET;
    s->dev.fd = sv[0];
    s->peer = sv[1];
    s->dev.mtu = mtu;
    snprintf(s->dev.name, sizeof s->dev.name, "sp0");
    return s;
}

static double seconds_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static tapir_stack *start_on(struct sp_dev *d, const char *ip)
{
    struct tapir_config cfg;
    harness_config(&cfg, ip, TAPIR_LINK_ETHERNET);
    tapir_stack *s = NULL;
    ck_assert_int_eq(tapir_stack_start(&cfg, &d->dev, &s), 0);
    ck_assert_ptr_nonnull(s);
    ck_assert_ptr_nonnull(runtime_of(s));
    return s;
}

START_TEST(frames_written_to_the_device_reach_the_core)
{
    struct sp_dev *d = sp_new(1500);
    int peer = d->peer;
    tapir_stack *s = start_on(d, "10.0.0.2");
    uint8_t frame[60];
    memset(frame, 0xee, sizeof frame);
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(send(peer, frame, sizeof frame, 0), (ssize_t)sizeof frame);
    struct tapir_stats st;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do {
        tapir_stack_snapshot_stats(s, &st);
        if (st.eth_rx == 10)
            break;
        usleep(1000);
    } while (seconds_since(&t0) < 5.0);
    ck_assert_uint_eq(st.eth_rx, 10);
    tapir_stack_stop(s);
}
END_TEST

START_TEST(start_announces_the_stack_on_the_device)
{
    /* tapir_stack_start calls link_up: a gratuitous ARP goes out through
     * the output callback to the device, from the stack's MAC. */
    struct sp_dev *d = sp_new(1500);
    int peer = d->peer;
    tapir_stack *s = start_on(d, "10.0.0.2");
    struct pollfd pfd = {.fd = peer, .events = POLLIN};
    ck_assert_int_eq(poll(&pfd, 1, 5000), 1);
    uint8_t frame[2048];
    ssize_t n = recv(peer, frame, sizeof frame, 0);
    ck_assert_int_ge(n, 42);
    ck_assert_uint_eq(frame[12], 0x08);     /* ethertype ARP */
    ck_assert_uint_eq(frame[13], 0x06);
    uint8_t mac[6];
    tapir_stack_mac(s, mac);
    ck_assert_mem_eq(frame + 6, mac, 6);
    struct tapir_stats st;
    tapir_stack_snapshot_stats(s, &st);
    ck_assert_uint_ge(st.eth_tx, 1);
    tapir_stack_stop(s);
}
END_TEST

START_TEST(timers_run_without_input)
{
    /* One echo request from an unknown host makes the stack resolve it with
     * ARP; the retries and the final give-up happen on timers alone, as no
     * frame arrives after the first. */
    struct sp_dev *d = sp_new(1500);
    int peer = d->peer;
    struct tapir_config cfg;
    harness_config(&cfg, "10.0.0.2", TAPIR_LINK_ETHERNET);
    cfg.arp_retries = 3;
    cfg.arp_retry_interval = TAPIR_MSEC(30);
    tapir_stack *s = NULL;
    ck_assert_int_eq(tapir_stack_start(&cfg, &d->dev, &s), 0);

    uint8_t mac[6], icmp[64], ip[128], frame[256];
    tapir_stack_mac(s, mac);
    const uint8_t peer_mac[6] = {0x02, 0, 0, 0, 0, 9};
    struct net_ip_spec sp;
    net_ipv4_defaults(&sp, net_ip("10.0.0.9"), net_ip("10.0.0.2"), 1);
    size_t n = net_icmp_echo(icmp, 8, 1, 1, (const uint8_t *)"timers", 6);
    n = net_ipv4_build(ip, &sp, icmp, n);
    n = net_ether_wrap(frame, mac, peer_mac, 0x0800, ip, n);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ck_assert_int_eq(send(peer, frame, n, 0), (ssize_t)n);

    struct tapir_stats st;
    do {
        tapir_stack_snapshot_stats(s, &st);
        if (st.drops[TAPIR_DROP_ARP_UNRESOLVED])
            break;
        usleep(2000);
    } while (seconds_since(&t0) < 5.0);
    double elapsed = seconds_since(&t0);
    ck_assert_uint_eq(st.drops[TAPIR_DROP_ARP_UNRESOLVED], 1);
    ck_assert_uint_eq(st.arp_requests_sent, 3);
    /* Never early: three requests are at least two intervals of 30 ms apart. */
    ck_assert_msg(elapsed >= 0.055, "gave up after %.3f s", elapsed);
    tapir_stack_stop(s);
}
END_TEST

START_TEST(stop_of_an_idle_stack_is_prompt)
{
    struct sp_dev *d = sp_new(1500);
    tapir_stack *s = start_on(d, "10.0.0.2");
    usleep(20000);  /* let the thread go to sleep */
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ck_assert(!runtime_stopping(s));
    tapir_stack_stop(s);
    ck_assert_msg(seconds_since(&t0) < 0.5, "stop took %.3f s", seconds_since(&t0));
}
END_TEST

START_TEST(device_mtu_and_mac_are_applied)
{
    struct sp_dev *d = sp_new(1400);
    d->dev.has_mac = true;
    const uint8_t devmac[6] = {0x02, 0x11, 0x22, 0x33, 0x44, 0x55};
    memcpy(d->dev.mac, devmac, 6);
    tapir_stack *s = start_on(d, "10.0.0.2");
    ck_assert_uint_eq(tapir_stack_config(s)->mtu, 1400);
    uint8_t mac[6];
    tapir_stack_mac(s, mac);
    ck_assert_mem_eq(mac, devmac, 6);
    tapir_stack_stop(s);

    /* A MAC in the config wins over the device's suggestion. */
    d = sp_new(1500);
    d->dev.has_mac = true;
    memcpy(d->dev.mac, devmac, 6);
    struct tapir_config cfg;
    harness_config(&cfg, "10.0.0.2", TAPIR_LINK_ETHERNET);
    const uint8_t cfgmac[6] = {0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee};
    memcpy(cfg.mac, cfgmac, 6);
    ck_assert_int_eq(tapir_stack_start(&cfg, &d->dev, &s), 0);
    tapir_stack_mac(s, mac);
    ck_assert_mem_eq(mac, cfgmac, 6);
    tapir_stack_stop(s);
}
END_TEST

START_TEST(a_jumbo_mtu_grows_the_buffers)
{
    struct sp_dev *d = sp_new(9000);
    tapir_stack *s = start_on(d, "10.0.0.2");
    ck_assert_uint_eq(tapir_stack_config(s)->mtu, 9000);
    ck_assert_uint_ge(tapir_stack_config(s)->buf_size, 9000 + 14);
    tapir_stack_stop(s);
}
END_TEST

START_TEST(bad_config_fails_and_leaves_the_device_to_the_caller)
{
    struct sp_dev *d = sp_new(1500);
    struct tapir_config cfg;
    harness_config(&cfg, "10.0.0.2", TAPIR_LINK_ETHERNET);
    cfg.addr.s_addr = 0;    /* required */
    tapir_stack *s = (tapir_stack *)0x1;
    ck_assert_int_eq(tapir_stack_start(&cfg, &d->dev, &s), -EINVAL);
    ck_assert_ptr_null(s);
    ck_assert_ptr_null(runtime_default_stack());
    tapir_dev_destroy(&d->dev);
}
END_TEST

START_TEST(default_stack_is_the_first_started_unless_set)
{
    ck_assert_ptr_null(runtime_default_stack());
    tapir_stack *a = start_on(sp_new(1500), "10.0.0.2");
    tapir_stack *b = start_on(sp_new(1500), "10.0.0.3");
    ck_assert_ptr_eq(runtime_default_stack(), a);
    tapir_set_default_stack(b);
    ck_assert_ptr_eq(runtime_default_stack(), b);
    tapir_stack_stop(b);
    ck_assert_ptr_eq(runtime_default_stack(), a);   /* back to the rule */
    tapir_stack *c = start_on(sp_new(1500), "10.0.0.4");
    ck_assert_ptr_eq(runtime_default_stack(), a);
    tapir_stack_stop(a);
    ck_assert_ptr_eq(runtime_default_stack(), c);
    tapir_stack_stop(c);
    ck_assert_ptr_null(runtime_default_stack());
}
END_TEST

static int attach_calls, detach_calls, attach_lock_held, detach_lock_held, detach_saw_stopping;

/* The contract: hooks run with the stack's lock held (trylock must fail). */
static int lock_is_held(tapir_stack *s)
{
    int rc = pthread_mutex_trylock(&runtime_of(s)->lock);
    if (rc == 0)
        pthread_mutex_unlock(&runtime_of(s)->lock);
    return rc == EBUSY;
}

static void hook_attach(tapir_stack *s)
{
    attach_lock_held = lock_is_held(s);
    __atomic_add_fetch(&attach_calls, 1, __ATOMIC_SEQ_CST);
}

static void hook_detach(tapir_stack *s)
{
    detach_lock_held = lock_is_held(s);
    detach_saw_stopping = runtime_stopping(s);
    detach_calls++;
}

static void *try_lock_from_other_thread(void *arg)
{
    /* Lock and unlock from another thread: proves the mutex works across threads. */
    tapir_stack *s = arg;
    runtime_lock(s);
    runtime_kick(s);
    runtime_unlock(s);
    return NULL;
}

START_TEST(hooks_run_at_start_and_stop)
{
    const struct runtime_hooks hooks = {hook_attach, hook_detach};
    runtime_set_hooks(&hooks);
    attach_calls = detach_calls = attach_lock_held = detach_lock_held = detach_saw_stopping = 0;
    tapir_stack *s = start_on(sp_new(1500), "10.0.0.2");
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, try_lock_from_other_thread, s), 0);
    pthread_join(t, NULL);
    /* attach runs on the stack thread, which we may have overtaken. */
    runtime_lock(s);
    runtime_unlock(s);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (__atomic_load_n(&attach_calls, __ATOMIC_SEQ_CST) == 0 && seconds_since(&t0) < 5.0)
        usleep(1000);
    ck_assert_int_eq(__atomic_load_n(&attach_calls, __ATOMIC_SEQ_CST), 1);
    tapir_stack_stop(s);
    ck_assert_int_eq(attach_lock_held, 1);
    ck_assert_int_eq(detach_calls, 1);
    ck_assert_int_eq(detach_lock_held, 1);
    ck_assert_int_eq(detach_saw_stopping, 1);
    runtime_set_hooks(NULL);
}
END_TEST

START_TEST(runtime_now_is_monotonic_microseconds)
{
    tapir_time_t a = runtime_now();
    usleep(2000);
    tapir_time_t b = runtime_now();
    ck_assert_uint_ge(b - a, 2000);
    ck_assert_uint_lt(b - a, 2000000);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("runtime");
    TCase *tc = tcase_create("thread");
    tcase_add_test(tc, frames_written_to_the_device_reach_the_core);
    tcase_add_test(tc, start_announces_the_stack_on_the_device);
    tcase_add_test(tc, timers_run_without_input);
    tcase_add_test(tc, stop_of_an_idle_stack_is_prompt);
    tcase_add_test(tc, device_mtu_and_mac_are_applied);
    tcase_add_test(tc, a_jumbo_mtu_grows_the_buffers);
    tcase_add_test(tc, bad_config_fails_and_leaves_the_device_to_the_caller);
    tcase_add_test(tc, default_stack_is_the_first_started_unless_set);
    tcase_add_test(tc, hooks_run_at_start_and_stop);
    tcase_add_test(tc, runtime_now_is_monotonic_microseconds);
    suite_add_tcase(s, tc);
    return harness_run(s);
}
