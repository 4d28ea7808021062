/* echo_server: a TCP echo service (RFC 862) on a tapir stack.
 *
 *   echo_server [--dev NAME] [--ip A.B.C.D/N] [--gw A.B.C.D] [--port P]
 *               [--pcap FILE] [--msl SECONDS] [-v]
 *
 * Defaults: --dev tap0 --ip 10.0.0.2/24 --port 7. Prints exactly one line,
 * "listening on 10.0.0.2:7", once it accepts connections. One thread per
 * connection with plain blocking calls, the way a first socket program is
 * written: read, write back everything read, and when the peer half-closes
 * (read returns 0) close our side too. SIGINT/SIGTERM: stop accepting, shut
 * every connection down, wait for their threads, stop the stack, exit 0.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/cli.h"
#include "common/echo_common.h"
#include "tapir/socket.h"

static void usage(FILE *f, const char *prog)
{
    fprintf(f, "usage: %s [--dev NAME] [--ip A.B.C.D/N] [--gw A.B.C.D] [--port P] [--pcap FILE] [--offload] [-v]\n"
               "Echo every byte of every TCP connection (defaults: --dev tap0 --ip 10.0.0.2/24 --port 7).\n"
               CLI_LINK_USAGE
               "  --port P          TCP port to listen on (default 7)\n"
               ECHO_TCP_USAGE
               "  -h, --help        this text\n", prog);
}

/* The connections being served, so that a signal can shut them down. */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t idle;       /* signalled when count drops to 0 */
    int *fds;
    int cap, count;
    bool verbose;
} conns = { .lock = PTHREAD_MUTEX_INITIALIZER, .idle = PTHREAD_COND_INITIALIZER };

static int conns_add(int fd)
{
    pthread_mutex_lock(&conns.lock);
    if (conns.count == conns.cap) {
        int cap = conns.cap ? conns.cap * 2 : 64;
        int *n = realloc(conns.fds, (size_t)cap * sizeof *n);
        if (!n) {
            pthread_mutex_unlock(&conns.lock);
            return -1;
        }
        conns.fds = n;
        conns.cap = cap;
    }
    conns.fds[conns.count++] = fd;
    pthread_mutex_unlock(&conns.lock);
    return 0;
}

/* Close fd and forget it (under the lock, so a shutdown from main never
 * meets a descriptor number that was closed and handed out again). */
static void conns_close(int fd)
{
    pthread_mutex_lock(&conns.lock);
    for (int i = 0; i < conns.count; i++)
        if (conns.fds[i] == fd) {
            conns.fds[i] = conns.fds[--conns.count];
            break;
        }
    tapir_close(fd);
    if (conns.count == 0)
        pthread_cond_broadcast(&conns.idle);
    pthread_mutex_unlock(&conns.lock);
}

static void *serve(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[64 * 1024];
    for (;;) {
        ssize_t n = tapir_read(fd, buf, sizeof buf);
        if (n == 0)
            break;               /* the peer half-closed: we are done too */
        if (n < 0) {
            if (conns.verbose)
                fprintf(stderr, "echo_server: read: %s\n", strerror(errno));
            break;
        }
        /* A blocking write returns once all of it is queued. */
        if (tapir_write(fd, buf, (size_t)n) != n) {
            if (conns.verbose)
                fprintf(stderr, "echo_server: write: %s\n", strerror(errno));
            break;
        }
    }
    conns_close(fd);
    return NULL;
}

static void *accept_loop(void *arg)
{
    int lfd = (int)(intptr_t)arg;
    for (;;) {
        int fd = tapir_accept(lfd, NULL, NULL);
        if (fd < 0) {
            if (errno == EBADF || errno == ECONNABORTED || errno == EINVAL)
                return NULL;     /* the listener was closed: shutting down */
            fprintf(stderr, "echo_server: accept: %s\n", strerror(errno));
            if (errno == EMFILE) {
                struct timespec pause = { .tv_nsec = 10 * 1000 * 1000 };
                nanosleep(&pause, NULL);
            }
            continue;
        }
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&attr, 256 * 1024);
        if (conns_add(fd) < 0 || pthread_create(&t, &attr, serve, (void *)(intptr_t)fd) != 0) {
            fprintf(stderr, "echo_server: no memory for a connection\n");
            conns_close(fd);
        }
        pthread_attr_destroy(&attr);
    }
}

int main(int argc, char **argv)
{
    struct cli_link_opts link;
    struct echo_tcp_opts tcp;
    echo_default_link(&link);
    echo_default_tcp(&tcp);
    long port = 7;
    for (int i = 1; i < argc;) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout, argv[0]);
            return EXIT_SUCCESS;
        }
        if (strcmp(a, "--port") == 0) {
            char *end;
            port = i + 1 < argc ? strtol(argv[i + 1], &end, 10) : -1;
            if (port < 0 || port > 65535 || *end) {
                fprintf(stderr, "%s: --port needs a number from 0 to 65535\n", argv[0]);
                return 2;
            }
            i += 2;
            continue;
        }
        int rc = echo_parse_shared_opt(argc, argv, &i, &link, &tcp, &conns.verbose);
        if (rc < 0)
            return 2;
        if (rc == 0) {
            fprintf(stderr, "%s: unknown argument '%s'\n", argv[0], a);
            usage(stderr, argv[0]);
            return 2;
        }
    }

    sigset_t signals;
    cli_block_signals(&signals);     /* before any thread: all inherit it */

    struct tapir_config cfg;
    tapir_config_init(&cfg);
    cli_apply_link_opts(&link, &cfg);
    echo_apply_tcp_opts(&tcp, &cfg);
    tapir_stack *stack;
    if (cli_start_stack(&link, &cfg, argv[0], &stack) < 0)
        return EXIT_FAILURE;
    if (conns.verbose)
        echo_trace_states(stack, "server");

    int lfd = tapir_socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    socklen_t alen = sizeof addr;
    if (lfd < 0 || tapir_setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        tapir_bind(lfd, (struct sockaddr *)&addr, sizeof addr) < 0 ||
        tapir_listen(lfd, 1024) < 0 ||
        tapir_getsockname(lfd, (struct sockaddr *)&addr, &alen) < 0) {
        fprintf(stderr, "%s: cannot listen on port %ld: %s\n", argv[0], port, strerror(errno));
        tapir_stack_stop(stack);
        return EXIT_FAILURE;
    }
    /* getsockname says 0.0.0.0 for a wildcard bind: show our real address. */
    char ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &link.ip, ip, sizeof ip);
    printf("listening on %s:%u\n", ip, ntohs(addr.sin_port));
    fflush(stdout);

    pthread_t acceptor;
    if (pthread_create(&acceptor, NULL, accept_loop, (void *)(intptr_t)lfd) != 0) {
        fprintf(stderr, "%s: cannot start a thread\n", argv[0]);
        tapir_stack_stop(stack);
        return EXIT_FAILURE;
    }

    int sig = cli_wait_signal(&signals);
    if (conns.verbose)
        fprintf(stderr, "%s: signal %d: closing\n", argv[0], sig);
    tapir_close(lfd);                /* wakes the acceptor (EBADF) */
    pthread_join(acceptor, NULL);

    /* Shut every connection down: each thread sees EOF/EPIPE and closes,
     * which sends our FIN. Give them a moment, then stop regardless. */
    pthread_mutex_lock(&conns.lock);
    for (int i = 0; i < conns.count; i++)
        tapir_shutdown(conns.fds[i], SHUT_RDWR);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 2;
    while (conns.count > 0)
        if (pthread_cond_timedwait(&conns.idle, &conns.lock, &until) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&conns.lock);
    struct timespec grace = { .tv_nsec = 100 * 1000 * 1000 };  /* let the FINs leave */
    nanosleep(&grace, NULL);

    struct tapir_stats st;
    tapir_stack_snapshot_stats(stack, &st);
    struct tapir_tx_thread_stats tx;
    tapir_stack_tx_thread_stats(stack, &tx);
    tapir_stack_stop(stack);         /* threads still blocked get ECONNABORTED */
    if (conns.verbose) {
        cli_print_stats(stderr, &st);
        cli_print_tx_thread_stats(stderr, &tx);
    }
    return EXIT_SUCCESS;
}
