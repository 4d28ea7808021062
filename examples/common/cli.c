/* Helpers shared by the example programs (see cli.h). */
#include "cli.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

int cli_parse_ipv4(const char *text, struct in_addr *addr)
{
    return inet_pton(AF_INET, text, addr) == 1 ? 0 : -EINVAL;
}

int cli_parse_cidr(const char *text, struct in_addr *addr, uint8_t *prefix_len)
{
    const char *slash = strchr(text, '/');
    if (!slash || slash == text || (size_t)(slash - text) >= INET_ADDRSTRLEN)
        return -EINVAL;
    char ip[INET_ADDRSTRLEN];
    memcpy(ip, text, (size_t)(slash - text));
    ip[slash - text] = '\0';
    char *end;
    errno = 0;
    long n = strtol(slash + 1, &end, 10);
    if (slash[1] == '\0' || *end != '\0' || errno || n < 0 || n > 32)
        return -EINVAL;
    if (cli_parse_ipv4(ip, addr) < 0)
        return -EINVAL;
    *prefix_len = (uint8_t)n;
    return 0;
}

int cli_parse_mac(const char *text, uint8_t mac[6])
{
    unsigned v[6];
    char tail;
    if (sscanf(text, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
               &tail) != 6)
        return -EINVAL;
    for (int i = 0; i < 6; i++)
        mac[i] = (uint8_t)v[i];
    if (mac[0] & 1)
        return -EINVAL;     /* a multicast address cannot be a host's */
    return 0;
}

void cli_format_mac(const uint8_t mac[6], char out[18])
{
    snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
             mac[5]);
}

static const char *option_value(int argc, char **argv, int *i)
{
    if (*i + 1 >= argc) {
        fprintf(stderr, "%s: option %s needs a value\n", argv[0], argv[*i]);
        return NULL;
    }
    *i += 1;
    return argv[*i];
}

int cli_parse_link_opt(int argc, char **argv, int *i, struct cli_link_opts *o)
{
    const char *opt = argv[*i];
    const char *v;
    if (strcmp(opt, "--tun") == 0) {
        o->tun = true;
    } else if (strcmp(opt, "--offload") == 0) {
        o->offload = true;
    } else if (strcmp(opt, "--no-offload") == 0) {
        o->offload = false;
    } else if (strcmp(opt, "--dev") == 0) {
        if (!(v = option_value(argc, argv, i)))
            return -1;
        o->dev = v;
    } else if (strcmp(opt, "--pcap") == 0) {
        if (!(v = option_value(argc, argv, i)))
            return -1;
        o->pcap = v;
    } else if (strcmp(opt, "--ip") == 0) {
        if (!(v = option_value(argc, argv, i)))
            return -1;
        if (cli_parse_cidr(v, &o->ip, &o->prefix_len) < 0) {
            fprintf(stderr, "%s: --ip wants A.B.C.D/N, not '%s'\n", argv[0], v);
            return -1;
        }
        o->have_ip = true;
    } else if (strcmp(opt, "--gw") == 0) {
        if (!(v = option_value(argc, argv, i)))
            return -1;
        if (cli_parse_ipv4(v, &o->gw) < 0) {
            fprintf(stderr, "%s: --gw wants A.B.C.D, not '%s'\n", argv[0], v);
            return -1;
        }
    } else if (strcmp(opt, "--mac") == 0) {
        if (!(v = option_value(argc, argv, i)))
            return -1;
        if (cli_parse_mac(v, o->mac) < 0) {
            fprintf(stderr, "%s: --mac wants a unicast xx:xx:xx:xx:xx:xx, not '%s'\n", argv[0], v);
            return -1;
        }
        o->have_mac = true;
    } else {
        return 0;
    }
    *i += 1;
    return 1;
}

int cli_check_link_opts(const struct cli_link_opts *o, const char *prog)
{
    if (!o->dev) {
        fprintf(stderr, "%s: --dev NAME is required\n", prog);
        return -1;
    }
    if (!o->have_ip) {
        fprintf(stderr, "%s: --ip A.B.C.D/N is required\n", prog);
        return -1;
    }
    return 0;
}

void cli_apply_link_opts(const struct cli_link_opts *o, struct tapir_config *cfg)
{
    cfg->link = o->tun ? TAPIR_LINK_IP : TAPIR_LINK_ETHERNET;
    cfg->addr = o->ip;
    cfg->prefix_len = o->prefix_len;
    cfg->gateway = o->gw;
    if (o->have_mac)
        memcpy(cfg->mac, o->mac, 6);
}

int cli_open_device(const struct cli_link_opts *o, struct tapir_dev **out)
{
    char err[256] = "";
    struct tapir_dev *dev;
    struct tapir_tap_opts topts = {.offload = o->offload};
    if (o->tun && o->offload) {
        fprintf(stderr, "--offload works with TAP devices only\n");
        return -EINVAL;
    }
    int rc = o->tun ? tapir_tun_open(o->dev, &dev, err, sizeof err)
                    : tapir_tap_open_opts(o->dev, &topts, &dev, err, sizeof err);
    if (rc < 0) {
        fprintf(stderr, "%s\n", err[0] ? err : strerror(-rc));
        return rc;
    }
    if (o->pcap) {
        struct tapir_dev *wrapped;
        rc = tapir_pcap_wrap(dev, o->pcap, &wrapped);
        if (rc < 0) {
            fprintf(stderr, "cannot write pcap %s: %s\n", o->pcap, strerror(-rc));
            tapir_dev_destroy(dev);
            return rc;
        }
        dev = wrapped;
    }
    *out = dev;
    return 0;
}

int cli_start_stack(const struct cli_link_opts *o, const struct tapir_config *cfg, const char *prog,
                    tapir_stack **out)
{
    struct tapir_dev *dev;
    if (cli_open_device(o, &dev) < 0)
        return -1;
    int rc = tapir_stack_start(cfg, dev, out);
    if (rc < 0) {
        fprintf(stderr, "%s: cannot start the stack: %s\n", prog, strerror(-rc));
        tapir_dev_destroy(dev);
        return -1;
    }
    return 0;
}

void cli_block_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int cli_wait_signal(const sigset_t *set)
{
    int sig = 0;
    while (sigwait(set, &sig) != 0)
        ;
    return sig;
}

void cli_print_tx_thread_stats(FILE *f, const struct tapir_tx_thread_stats *tx)
{
    if (!tx->running) {
        fprintf(f, "writer thread: none\n");
        return;
    }
    fprintf(f, "writer thread: %llu frames inline, %llu queued, %llu write errors\n",
            (unsigned long long)tx->frames_inline, (unsigned long long)tx->frames_queued,
            (unsigned long long)tx->write_errors);
    fprintf(f, "writer thread: %llu waiting now, %llu waits for room, %llu wake-ups\n",
            (unsigned long long)tx->frames_waiting, (unsigned long long)tx->ring_full_waits,
            (unsigned long long)tx->writer_wakeups);
}

void cli_print_stats(FILE *f, const struct tapir_stats *st)
{
    const char *name;
    uint64_t value;
    fprintf(f, "counters (non-zero):\n");
    for (size_t i = 0; tapir_stats_counter(st, i, &name, &value); i++)
        if (value)
            fprintf(f, "  %-22s %llu\n", name, (unsigned long long)value);
    fprintf(f, "drops: %llu\n", (unsigned long long)st->drops_total);
    for (int r = 0; r < TAPIR_DROP__COUNT; r++)
        if (st->drops[r])
            fprintf(f, "  %-22s %llu  (%s)\n", tapir_drop_reason_name((enum tapir_drop_reason)r),
                    (unsigned long long)st->drops[r],
                    tapir_drop_reason_text((enum tapir_drop_reason)r));
}
