/* The tapir side of tests/tap/test_urgent_kernel.sh: connect to HOST PORT
 * (a kernel peer, tests/tap/urgent_kernel_peer.py) over a TAP device and
 * exchange urgent data both ways:
 *   1. send "abc", then "d" with MSG_OOB, then "ef";
 *   2. the peer sends "ghi", "j" with MSG_OOB, "kl": wait for POLLPRI, read
 *      up to the mark, check SIOCATMARK, take 'j' with MSG_OOB, read "kl";
 *   3. send "ok" and close.
 * Every step is printed on stdout ("read ghi", "atmark 1", "oob j", ...) for
 * the script to check; any failure exits non-zero.
 * Usage: urgent_peer [--dev tap0] [--ip 10.0.0.2/24] HOST PORT */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "common/cli.h"
#include "tapir/socket.h"
#include "tapir/tapir.h"

static int die(const char *what)
{
    fprintf(stderr, "urgent_peer: %s: %s\n", what, strerror(errno));
    return -1;
}

/* Read exactly n bytes (the mark stops a read early; keep going). */
static int read_exact(int fd, char *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = tapir_read(fd, buf + got, n - got);
        if (r <= 0)
            return r == 0 ? (errno = EPIPE, die("read: early EOF")) : die("read");
        got += (size_t)r;
    }
    return 0;
}

static int exchange(int fd)
{
    /* 1. Urgent data to the kernel. */
    if (tapir_send(fd, "abc", 3, 0) != 3 || tapir_send(fd, "d", 1, MSG_OOB) != 1 ||
        tapir_send(fd, "ef", 2, 0) != 2)
        return die("send");
    printf("sent abc d(oob) ef\n");
    fflush(stdout);

    /* 2. Urgent data from the kernel. */
    struct pollfd p = { .fd = fd, .events = POLLPRI };
    int pr = tapir_poll(&p, 1, 10000);
    if (pr != 1 || !(p.revents & POLLPRI)) {
        fprintf(stderr, "urgent_peer: no POLLPRI (poll %d, revents %#x)\n", pr, p.revents);
        return -1;
    }
    printf("pollpri\n");
    char buf[16] = {0};
    ssize_t n = tapir_read(fd, buf, sizeof buf - 1);   /* stops at the mark */
    if (n < 0)
        return die("read");
    buf[n] = '\0';
    printf("read %s\n", buf);
    int mark = -1;
    if (tapir_ioctl(fd, SIOCATMARK, &mark) < 0)
        return die("ioctl SIOCATMARK");
    printf("atmark %d\n", mark);
    char oob = 0;
    if (tapir_recv(fd, &oob, 1, MSG_OOB) != 1)
        return die("recv MSG_OOB");
    printf("oob %c\n", oob);
    memset(buf, 0, sizeof buf);
    if (read_exact(fd, buf, 2) < 0)
        return -1;
    printf("read %s\n", buf);

    /* 3. Done. */
    if (tapir_send(fd, "ok", 2, 0) != 2)
        return die("send ok");
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv)
{
    struct cli_link_opts link;
    memset(&link, 0, sizeof link);
    link.dev = "tap0";
    cli_parse_cidr("10.0.0.2/24", &link.ip, &link.prefix_len);
    link.have_ip = true;
    const char *args[2] = {NULL, NULL};
    int nargs = 0;
    for (int i = 1; i < argc;) {
        int rc = cli_parse_link_opt(argc, argv, &i, &link);
        if (rc < 0)
            return 2;
        if (rc > 0)
            continue;
        if (nargs == 2 || argv[i][0] == '-') {
            fprintf(stderr, "usage: %s [--dev NAME] [--ip A.B.C.D/N] HOST PORT\n", argv[0]);
            return 2;
        }
        args[nargs++] = argv[i++];
    }
    struct sockaddr_in peer = { .sin_family = AF_INET };
    if (nargs != 2 || inet_pton(AF_INET, args[0], &peer.sin_addr) != 1 || atoi(args[1]) <= 0 ||
        atoi(args[1]) > 65535) {
        fprintf(stderr, "usage: %s [--dev NAME] [--ip A.B.C.D/N] HOST PORT\n", argv[0]);
        return 2;
    }
    peer.sin_port = htons((uint16_t)atoi(args[1]));

    struct tapir_config cfg;
    tapir_config_init(&cfg);
    cli_apply_link_opts(&link, &cfg);
    tapir_stack *stack;
    if (cli_start_stack(&link, &cfg, argv[0], &stack) < 0)
        return EXIT_FAILURE;
    int status = EXIT_FAILURE;
    int fd = tapir_socket(AF_INET, SOCK_STREAM, 0);
    struct timeval tv = { .tv_sec = 10 };
    if (fd < 0) {
        die("socket");
    } else if (tapir_setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0 ||
               tapir_connect(fd, (struct sockaddr *)&peer, sizeof peer) < 0) {
        die("connect");
    } else if (exchange(fd) == 0) {
        /* Let the kernel read "ok" and close first: wait for its FIN. */
        char c;
        ssize_t r = tapir_read(fd, &c, 1);
        status = r == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
        if (r != 0)
            fprintf(stderr, "urgent_peer: expected EOF, got %zd\n", r);
    }
    if (fd >= 0)
        tapir_close(fd);
    tapir_stack_stop(stack);
    return status;
}
