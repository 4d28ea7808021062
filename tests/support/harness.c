/* Shared test helpers. */
#include "harness.h"

#include <stdlib.h>
#include <string.h>

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

static int run(Suite *s, bool fork)
{
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
