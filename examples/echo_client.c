/* echo_client: copy stdin to a TCP connection and the connection to stdout,
 * through a tapir stack of its own.
 *
 *   echo_client [--dev NAME] [--ip A.B.C.D/N] [--gw A.B.C.D] [--pcap FILE]
 *               [--linger SECONDS] [--msl SECONDS] [-v] HOST [PORT]
 *
 * Defaults: --dev tap0 --ip 10.0.0.2/24, PORT 7, --linger 2. One thread and
 * tapir_poll() over stdin (a kernel descriptor) and the socket (a tapir
 * descriptor) in the same call. At the end of stdin it calls
 * shutdown(SHUT_WR): our FIN goes first, so this side does the active close
 * and its connection ends in TIME_WAIT. It keeps reading until the server
 * closes, then closes.
 *
 * Why --linger: a userspace stack dies with its process. If the process
 * exited at once, a FIN the server retransmits (because our last ACK was
 * lost) would find nobody and get a RST instead of the ACK that TIME_WAIT
 * exists to give (RFC 9293 3.6.1). So after close() the stack keeps running
 * for --linger seconds while the connection sits in TIME_WAIT.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/cli.h"
#include "common/echo_common.h"
#include "tapir/socket.h"

static void usage(FILE *f, const char *prog)
{
    fprintf(f, "usage: %s [--dev NAME] [--ip A.B.C.D/N] [--gw A.B.C.D] [--pcap FILE] [--offload] [--linger SECONDS] [-v] HOST [PORT]\n"
               "Send stdin to HOST:PORT (default port 7) and print what comes back\n"
               "(defaults: --dev tap0 --ip 10.0.0.2/24).\n"
               CLI_LINK_USAGE
               "  --linger SECONDS  keep the stack up this long after close, so TIME_WAIT\n"
               "                    can still acknowledge a retransmitted FIN (default 2)\n"
               ECHO_TCP_USAGE
               "  -h, --help        this text\n", prog);
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* The exchange: 0 when the server closed after echoing, else -1 with a
 * message printed. */
static int exchange(const char *prog, int sock)
{
    static char in[64 * 1024], out[64 * 1024];
    size_t in_len = 0, in_off = 0;
    bool stdin_done = false, shut = false;
    for (;;) {
        if (stdin_done && in_len == in_off && !shut) {
            if (tapir_shutdown(sock, SHUT_WR) < 0) {
                fprintf(stderr, "%s: shutdown: %s\n", prog, strerror(errno));
                return -1;
            }
            shut = true;
        }
        struct pollfd p[2] = {
            { .fd = sock, .events = POLLIN | (in_off < in_len ? POLLOUT : 0) },
            { .fd = (!stdin_done && in_off == in_len) ? STDIN_FILENO : -1, .events = POLLIN },
        };
        if (tapir_poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "%s: poll: %s\n", prog, strerror(errno));
            return -1;
        }
        if (p[0].revents & (POLLIN | POLLERR | POLLHUP)) {
            ssize_t n = tapir_read(sock, out, sizeof out);
            if (n == 0)
                return 0;               /* the server closed its side */
            if (n < 0 && errno != EAGAIN) {
                fprintf(stderr, "%s: connection: %s\n", prog, strerror(errno));
                return -1;
            }
            if (n > 0 && write_all(STDOUT_FILENO, out, (size_t)n) < 0) {
                fprintf(stderr, "%s: stdout: %s\n", prog, strerror(errno));
                return -1;
            }
        }
        if (in_off < in_len && (p[0].revents & POLLOUT)) {
            ssize_t n = tapir_write(sock, in + in_off, in_len - in_off);
            if (n < 0 && errno != EAGAIN) {
                fprintf(stderr, "%s: connection: %s\n", prog, strerror(errno));
                return -1;
            }
            if (n > 0)
                in_off += (size_t)n;
        }
        if (p[1].revents) {
            ssize_t n = read(STDIN_FILENO, in, sizeof in);
            if (n < 0 && errno != EINTR && errno != EAGAIN) {
                fprintf(stderr, "%s: stdin: %s\n", prog, strerror(errno));
                return -1;
            }
            if (n == 0)
                stdin_done = true;
            in_len = n > 0 ? (size_t)n : 0;
            in_off = 0;
        }
    }
}

int main(int argc, char **argv)
{
    struct cli_link_opts link;
    struct echo_tcp_opts tcp;
    echo_default_link(&link);
    echo_default_tcp(&tcp);
    double linger = 2;
    bool verbose = false;
    const char *host = NULL, *port_text = "7";
    bool have_port = false;
    for (int i = 1; i < argc;) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout, argv[0]);
            return EXIT_SUCCESS;
        }
        if (strcmp(a, "--linger") == 0) {
            char *end;
            linger = i + 1 < argc ? strtod(argv[i + 1], &end) : -1;
            if (linger < 0 || linger > 3600 || *end) {
                fprintf(stderr, "%s: --linger needs a number of seconds\n", argv[0]);
                return 2;
            }
            i += 2;
            continue;
        }
        if (a[0] != '-' || a[1] == '\0') {
            if (!host)
                host = a;
            else if (!have_port) {
                port_text = a;
                have_port = true;
            }
            else {
                fprintf(stderr, "%s: unexpected argument '%s'\n", argv[0], a);
                return 2;
            }
            i++;
            continue;
        }
        int rc = echo_parse_shared_opt(argc, argv, &i, &link, &tcp, &verbose);
        if (rc < 0)
            return 2;
        if (rc == 0) {
            fprintf(stderr, "%s: unknown argument '%s'\n", argv[0], a);
            usage(stderr, argv[0]);
            return 2;
        }
    }
    struct sockaddr_in peer = { .sin_family = AF_INET };
    char *end;
    long port = strtol(port_text, &end, 10);
    if (!host || inet_pton(AF_INET, host, &peer.sin_addr) != 1 || *end || port < 1 || port > 65535) {
        fprintf(stderr, "%s: need HOST as A.B.C.D and PORT from 1 to 65535\n", argv[0]);
        usage(stderr, argv[0]);
        return 2;
    }
    peer.sin_port = htons((uint16_t)port);

    /* Ctrl-C ends us the usual way; a closed stdout must not kill us
     * (tapir itself never raises SIGPIPE). */
    signal(SIGPIPE, SIG_IGN);

    struct tapir_config cfg;
    tapir_config_init(&cfg);
    cli_apply_link_opts(&link, &cfg);
    echo_apply_tcp_opts(&tcp, &cfg);
    tapir_stack *stack;
    if (cli_start_stack(&link, &cfg, argv[0], &stack) < 0)
        return EXIT_FAILURE;
    if (verbose)
        echo_trace_states(stack, "client");

    int status = EXIT_SUCCESS;
    int sock = tapir_socket(AF_INET, SOCK_STREAM, 0);
    if (sock < 0) {
        fprintf(stderr, "%s: socket: %s\n", argv[0], strerror(errno));
        status = EXIT_FAILURE;
    } else if (tapir_connect(sock, (struct sockaddr *)&peer, sizeof peer) < 0) {
        fprintf(stderr, "%s: connect to %s:%ld: %s\n", argv[0], host, port, strerror(errno));
        status = EXIT_FAILURE;
    } else {
        /* Connected: from here on the socket never blocks, tapir_poll waits. */
        tapir_fcntl(sock, F_SETFL, tapir_fcntl(sock, F_GETFL) | O_NONBLOCK);
        if (exchange(argv[0], sock) < 0)
            status = EXIT_FAILURE;
    }
    if (sock >= 0)
        tapir_close(sock);

    if (status == EXIT_SUCCESS && linger > 0) {
        if (verbose)
            fprintf(stderr, "%s: keeping the stack up %.1f s for TIME_WAIT (--linger)\n", argv[0], linger);
        struct timespec t = { .tv_sec = (time_t)linger,
                              .tv_nsec = (long)((linger - (double)(time_t)linger) * 1e9) };
        while (nanosleep(&t, &t) < 0 && errno == EINTR)
            ;
    }
    struct tapir_stats st;
    tapir_stack_snapshot_stats(stack, &st);
    tapir_stack_stop(stack);
    if (verbose)
        cli_print_stats(stderr, &st);
    return status;
}
