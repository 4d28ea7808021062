/* Helpers shared by the example programs: the common link options
 * (--dev --ip --gw --mac --pcap --tun), opening the device, waiting for
 * SIGINT/SIGTERM, and printing counters. */
#ifndef TAPIR_EXAMPLES_CLI_H
#define TAPIR_EXAMPLES_CLI_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "tapir/tapir.h"

struct cli_link_opts {
    const char *dev;        /* --dev NAME */
    bool tun;               /* --tun: a TUN (IP) device instead of TAP */
    const char *pcap;       /* --pcap FILE */
    bool have_ip;           /* --ip A.B.C.D/N */
    struct in_addr ip;
    uint8_t prefix_len;
    struct in_addr gw;      /* --gw A.B.C.D */
    bool have_mac;          /* --mac 02:00:00:00:00:01 */
    uint8_t mac[6];
    bool offload;           /* --offload (off by default, --no-offload): TAP virtio-net header offloads */
};

/* The usage lines for the options above. */
#define CLI_LINK_USAGE \
    "  --dev NAME        TAP (or TUN) device to attach to\n" \
    "  --ip A.B.C.D/N    our address and prefix length\n" \
    "  --gw A.B.C.D      default gateway\n" \
    "  --mac MAC         our MAC (default: random, locally administered)\n" \
    "  --pcap FILE       record every frame in and out to FILE\n" \
    "  --tun             use a TUN device (IP packets, no Ethernet/ARP)\n" \
    "  --offload         TAP offloads: virtio-net header, 64 KiB GSO in, TSO and\n" \
    "                    partial checksums out (default off; --no-offload)\n"

/* "10.0.0.2/24"; the /N is required. 0 or -EINVAL. */
int cli_parse_cidr(const char *text, struct in_addr *addr, uint8_t *prefix_len);
int cli_parse_ipv4(const char *text, struct in_addr *addr);
/* "02:00:5e:00:00:01"; 0 or -EINVAL. */
int cli_parse_mac(const char *text, uint8_t mac[6]);
/* out must hold 18 bytes. */
void cli_format_mac(const uint8_t mac[6], char out[18]);

/* If argv[*i] is one of the link options, consume it (and its value),
 * advance *i past it and return 1; 0 if it is not one; -1 after printing an
 * error to stderr. */
int cli_parse_link_opt(int argc, char **argv, int *i, struct cli_link_opts *o);
/* After parsing: -1 (with a message) if a required option is missing. */
int cli_check_link_opts(const struct cli_link_opts *o, const char *prog);
/* Put the options into cfg (which tapir_config_init filled). */
void cli_apply_link_opts(const struct cli_link_opts *o, struct tapir_config *cfg);
/* Open the TAP/TUN device (wrapped with pcap if asked); 0 or -errno with
 * the reason printed to stderr. */
int cli_open_device(const struct cli_link_opts *o, struct tapir_dev **out);
/* Open the device of o (cli_open_device) and start a stack on it with cfg;
 * on failure says why on stderr (prefixed with prog) and returns -1. */
int cli_start_stack(const struct cli_link_opts *o, const struct tapir_config *cfg, const char *prog,
                    tapir_stack **out);

/* Block SIGINT, SIGTERM (and SIGPIPE ignored) in the calling thread, before
 * any thread starts so every thread inherits the mask; fills set. */
void cli_block_signals(sigset_t *set);
/* Wait for one of the signals in set; returns its number. */
int cli_wait_signal(const sigset_t *set);

/* Print the counters that are non-zero and every drop with its reason. */
void cli_print_stats(FILE *f, const struct tapir_stats *st);
/* What the writer thread did (tapir_stack_tx_thread_stats), or that there
 * is none: "writer thread: N frames inline, M queued, K write errors" and a
 * line of detail. */
void cli_print_tx_thread_stats(FILE *f, const struct tapir_tx_thread_stats *tx);

#endif
