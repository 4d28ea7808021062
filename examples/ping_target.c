/* ping_target: bring a tapir stack up on a TAP (or TUN) device and serve ARP
 * and ICMP echo until SIGINT or SIGTERM.
 *
 *   ip netns exec tapir ping_target --dev tap0 --ip 10.0.0.2/24
 *   ip netns exec tapir ping -c 3 10.0.0.2
 *
 * Prints one "ready on ..." line to stdout once the stack runs, and the
 * non-zero counters and drops to stderr when it stops.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "common/cli.h"
#include "tapir/tapir.h"

static void usage(FILE *f, const char *prog)
{
    fprintf(f, "usage: %s --dev NAME --ip A.B.C.D/N [--gw A.B.C.D] [--mac MAC] [--pcap FILE] [--tun] [--offload]\n"
               "Answer ARP and ping on a TAP device until SIGINT/SIGTERM.\n" CLI_LINK_USAGE
               "  -h, --help        this text\n", prog);
}

int main(int argc, char **argv)
{
    struct cli_link_opts opts = {0};
    for (int i = 1; i < argc;) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout, argv[0]);
            return EXIT_SUCCESS;
        }
        int rc = cli_parse_link_opt(argc, argv, &i, &opts);
        if (rc < 0)
            return 2;
        if (rc == 0) {
            fprintf(stderr, "%s: unknown argument '%s'\n", argv[0], argv[i]);
            usage(stderr, argv[0]);
            return 2;
        }
    }
    if (cli_check_link_opts(&opts, argv[0]) < 0) {
        usage(stderr, argv[0]);
        return 2;
    }

    /* Before any thread exists, so the stack thread inherits the mask. */
    sigset_t signals;
    cli_block_signals(&signals);

    struct tapir_config cfg;
    tapir_config_init(&cfg);
    cli_apply_link_opts(&opts, &cfg);

    tapir_stack *stack;
    if (cli_start_stack(&opts, &cfg, argv[0], &stack) < 0)
        return EXIT_FAILURE;

    uint8_t mac[6];
    char mac_text[18], ip_text[INET_ADDRSTRLEN];
    tapir_stack_mac(stack, mac);
    cli_format_mac(mac, mac_text);
    inet_ntop(AF_INET, &opts.ip, ip_text, sizeof ip_text);
    if (opts.tun)
        printf("ready on %s %s/%u (tun)\n", opts.dev, ip_text, opts.prefix_len);
    else
        printf("ready on %s %s/%u mac %s\n", opts.dev, ip_text, opts.prefix_len, mac_text);
    fflush(stdout);

    int sig = cli_wait_signal(&signals);
    struct tapir_stats st;
    tapir_stack_snapshot_stats(stack, &st);
    tapir_stack_stop(stack);
    fprintf(stderr, "%s: stopped by signal %d\n", argv[0], sig);
    cli_print_stats(stderr, &st);
    return EXIT_SUCCESS;
}
