/* Socket API tests without root: two stacks started with their runtime
 * threads (tapir_stack_start) on the two ends of a realtime vlink.
 *
 *   A = 10.0.0.2 (started first: the default stack of tapir_socket())
 *   B = 10.0.0.3
 *
 * Helpers assert with Check (ck_assert*), so call them from test bodies or
 * checked fixtures.
 */
#ifndef TAPIR_TEST_SOCK_ENV_H
#define TAPIR_TEST_SOCK_ENV_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "tapir/socket.h"
#include "tapir/tapir.h"

struct sock_env {
    tapir_stack *a, *b;
    struct tapir_dev *link_a, *link_b;   /* the vlink ends (owned by the stacks) */
};

/* Start A and B; tune (may be NULL) adjusts both configs before start. */
void sockenv_start(struct sock_env *e, void (*tune)(struct tapir_config *cfg));
/* Stop whichever of A and B still run (NULL members are skipped). */
void sockenv_stop(struct sock_env *e);
/* Every frame A sends to B is lost (loss 1) or none is (loss 0). */
void sockenv_link_loss(struct sock_env *e, double loss);

struct sockaddr_in sockenv_addr(const char *ip, uint16_t port);
/* A listener on stack s at port (SO_REUSEADDR, backlog 16). */
int sockenv_listen(tapir_stack *s, uint16_t port);
/* A connected pair: *client on A, *server accepted on B from a listener on
 * port (closed again unless listener is non-NULL, where it is returned). */
void sockenv_pair(struct sock_env *e, uint16_t port, int *client, int *server, int *listener);
/* Wait until fd reports one of want (tapir_poll), at most ms; the revents. */
short sockenv_wait(int fd, short want, int ms);
/* Echo everything read on fd back to it until EOF or an error. */
void sockenv_echo(int fd);
/* The same as a pthread start routine; arg is the fd cast to intptr_t. */
void *sockenv_echo_thread(void *arg);
/* rounds request/response round trips of size bytes (at most 8192) on c
 * to an echoing peer; 0 if every byte came back, else negative. */
int sockenv_round_trips(int c, int rounds, size_t size);

/* A reader blocked in a 1-byte tapir_read on another thread. */
struct sockenv_reader {
    int fd;
    ssize_t n;              /* what the read returned, */
    int err;                /* ... its errno */
    atomic_bool done;
};
/* Start a reader on fd and wait until it drives the device of stack s
 * (caller-driven mode), then check that it is still blocked 20 ms later. */
void sockenv_start_driving_reader(struct sockenv_reader *r, int fd, tapir_stack *s, pthread_t *t);
/* Wait at most ms for the reader to return (asserts it did), then join it. */
void sockenv_join_reader(struct sockenv_reader *r, pthread_t t, int ms);
/* Thread: write one byte to the pipe end *(int *)arg after 50 ms. */
void *sockenv_write_pipe_later(void *arg);
/* Thread: after ms, tapir_write len bytes (at most 16 KiB) to fd, asserting
 * all were taken (arg: a struct sockenv_later_write). */
struct sockenv_later_write {
    int fd;
    long ms;
    size_t len;
};
void *sockenv_write_later(void *arg);
/* Read exactly n bytes from fd (asserts they came). */
void sockenv_read_exactly(int fd, size_t n);

/* A new tapir epoll instance (asserts it was made). */
int sockenv_epoll_new(void);
/* EPOLL_CTL_ADD fd with events and data (asserts it worked). */
void sockenv_epoll_add(int ep, int fd, uint32_t events, uint64_t data);

/* Monotonic milliseconds. */
uint64_t sockenv_ms(void);
/* Sleep ms milliseconds (wall clock). */
void sockenv_sleep_ms(long ms);

#endif
