/* Many application threads using different sockets at once (the issue's
 * "thread-safe" promise): client threads on stack A open, echo and close
 * connections to a thread-per-connection server on stack B; each client
 * connection has a sending and a receiving thread. Every byte is checked;
 * under the sanitizer build it also exercises the locking and lifetimes. */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sock_env.h"
#include "harness.h"

#define CLIENT_THREADS 8
#define CONNS_PER_THREAD 12
#define BYTES_PER_CONN (48 * 1024)

static struct sock_env env;
static void setup(void) { sockenv_start(&env, NULL); }
static void teardown(void) { sockenv_stop(&env); }

static atomic_int served;

static void *serve_one(void *arg)
{
    int fd = (int)(intptr_t)arg;
    sockenv_echo(fd);
    tapir_close(fd);
    atomic_fetch_add(&served, 1);
    return NULL;
}

static void *acceptor(void *arg)
{
    int l = (int)(intptr_t)arg;
    for (;;) {
        int fd = tapir_accept(l, NULL, NULL);
        if (fd < 0)
            return NULL;          /* listener closed */
        pthread_t t;
        pthread_create(&t, NULL, serve_one, (void *)(intptr_t)fd);
        pthread_detach(t);
    }
}

struct client_result {
    int ok;
    char why[128];
};

/* Write from a second thread while this one reads, as a real client must
 * (the echo comes back while we still send). */
struct sender {
    int fd;
    const unsigned char *data;
    size_t len;
};

static void *send_all(void *arg)
{
    struct sender *s = arg;
    size_t off = 0;
    while (off < s->len) {
        size_t chunk = s->len - off < 5000 ? s->len - off : 5000;   /* odd sizes */
        ssize_t n = tapir_write(s->fd, s->data + off, chunk);
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    tapir_shutdown(s->fd, SHUT_WR);
    return NULL;
}

static void *client(void *arg)
{
    struct client_result *r = arg;
    unsigned seed = (unsigned)(uintptr_t)arg;
    unsigned char *data = malloc(BYTES_PER_CONN), *back = malloc(BYTES_PER_CONN);
    r->ok = 0;
    for (int i = 0; i < CONNS_PER_THREAD; i++) {
        for (size_t k = 0; k < BYTES_PER_CONN; k++)
            data[k] = (unsigned char)rand_r(&seed);
        int fd = tapir_socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in to = sockenv_addr("10.0.0.3", 7100);
        if (fd < 0 || tapir_connect(fd, (struct sockaddr *)&to, sizeof to) < 0) {
            snprintf(r->why, sizeof r->why, "connect %d: %s", i, strerror(errno));
            if (fd >= 0)
                tapir_close(fd);
            goto out;
        }
        struct sender s = { .fd = fd, .data = data, .len = BYTES_PER_CONN };
        pthread_t t;
        pthread_create(&t, NULL, send_all, &s);
        size_t got = 0;
        for (;;) {
            ssize_t n = tapir_read(fd, back + got, BYTES_PER_CONN - got);
            if (n <= 0)
                break;
            got += (size_t)n;
            if (got == BYTES_PER_CONN) {
                char extra;
                n = tapir_read(fd, &extra, 1);   /* then EOF */
                if (n != 0)
                    got++;
                break;
            }
        }
        pthread_join(t, NULL);
        tapir_close(fd);
        if (got != BYTES_PER_CONN || memcmp(data, back, BYTES_PER_CONN) != 0) {
            snprintf(r->why, sizeof r->why, "connection %d: %zu bytes back, %s", i, got,
                     got == BYTES_PER_CONN ? "content differs" : "wrong count");
            goto out;
        }
    }
    r->ok = 1;
out:
    free(data);
    free(back);
    return NULL;
}

START_TEST(many_threads_many_connections)
{
    atomic_store(&served, 0);
    int l = sockenv_listen(env.b, 7100);
    pthread_t acc;
    pthread_create(&acc, NULL, acceptor, (void *)(intptr_t)l);
    pthread_t t[CLIENT_THREADS];
    struct client_result r[CLIENT_THREADS];
    for (int i = 0; i < CLIENT_THREADS; i++)
        pthread_create(&t[i], NULL, client, &r[i]);
    for (int i = 0; i < CLIENT_THREADS; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < CLIENT_THREADS; i++)
        ck_assert_msg(r[i].ok, "client thread %d: %s", i, r[i].why);
    ck_assert_int_eq(tapir_close(l), 0);       /* wakes the acceptor */
    pthread_join(acc, NULL);
    for (int i = 0; i < 200 && atomic_load(&served) < CLIENT_THREADS * CONNS_PER_THREAD; i++) {
        struct timespec ms10 = { .tv_nsec = 10 * 1000 * 1000 };
        nanosleep(&ms10, NULL);
    }
    ck_assert_int_eq(atomic_load(&served), CLIENT_THREADS * CONNS_PER_THREAD);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("socket_threads");
    TCase *t = tcase_create("threads");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_set_timeout(t, 120);
    tcase_add_test(t, many_threads_many_connections);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return harness_run(suite());
}
