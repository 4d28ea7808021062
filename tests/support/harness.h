/* Shared test helpers: stack configs for tests. */
#ifndef TAPIR_TEST_HARNESS_H
#define TAPIR_TEST_HARNESS_H

#include <arpa/inet.h>

#include <check.h>

#include "tapir/tapir.h"

/* Defaults with a fixed seed, the given address/24 and link type. */
void harness_config(struct tapir_config *cfg, const char *ip, enum tapir_link_type link);

/* Run suite s (Check forks each test) and free it: EXIT_SUCCESS if every
 * test passed, else EXIT_FAILURE. The body of every test main(). */
int harness_run(Suite *s);
/* The same with every test in this process (CK_NOFORK): for suites whose
 * tests share state on purpose, or whose failures are easier to debug
 * without a fork. */
int harness_run_nofork(Suite *s);

#endif
