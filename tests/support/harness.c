/* Shared test helpers. */
#include "harness.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void harness_config(struct tapir_config *cfg, const char *ip, enum tapir_link_type link)
{
    tapir_config_init(cfg);
    cfg->link = link;
    cfg->random_seed = 12345;
    inet_pton(AF_INET, ip, &cfg->addr);
    cfg->prefix_len = 24;
    /* No writer thread unless a test asks for one (test_writer.c): the
     * realtime vlink could take one, and the socket tests' timing and
     * counters were written for the thread that runs the core writing every
     * frame itself. */
    cfg->tx_thread = TAPIR_TX_THREAD_OFF;
}

_Atomic(const char *) harness_pass_file;
atomic_int harness_pass_line;

static const int fatal_signals[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT };
static struct sigaction previous[sizeof fatal_signals / sizeof fatal_signals[0]];

static void put(const char *s)
{
    ssize_t n = write(STDERR_FILENO, s, strlen(s));     /* async-signal-safe */
    (void)n;
}

/* A test dies of a signal: say where its last assertion passed, then let
 * the handler that was there (ASan's report, or the default) have it. */
static void on_fatal_signal(int sig)
{
    size_t k = 0;
    while (fatal_signals[k] != sig)
        k++;
    const char *file = atomic_load_explicit(&harness_pass_file, memory_order_relaxed);
    int line = atomic_load_explicit(&harness_pass_line, memory_order_relaxed);
    char num[16];
    size_t i = sizeof num;
    num[--i] = '\0';
    do {
        num[--i] = (char)('0' + line % 10);
        line /= 10;
    } while (line > 0 && i > 0);
    put("harness: signal ");
    put(sig == SIGSEGV ? "SEGV" : sig == SIGBUS ? "BUS" : sig == SIGFPE ? "FPE" : sig == SIGILL ? "ILL" : "ABRT");
    put(file ? " after the assertion at " : " before any assertion passed\n");
    if (file) {
        put(file);
        put(":");
        put(num + i);
        put("\n");
    }
    sigaction(sig, &previous[k], NULL);
    if (sig == SIGABRT)
        raise(sig);                /* a fault re-faults on return instead */
}

static void catch_fatal_signals(void)
{
    for (size_t k = 0; k < sizeof fatal_signals / sizeof fatal_signals[0]; k++) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_fatal_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(fatal_signals[k], &sa, &previous[k]);
    }
}

static int run(Suite *s, bool fork)
{
    catch_fatal_signals();
    SRunner *sr = srunner_create(s);
    if (!fork)
        srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

int harness_run(Suite *s)
{
    return run(s, true);
}

int harness_run_nofork(Suite *s)
{
    return run(s, false);
}
