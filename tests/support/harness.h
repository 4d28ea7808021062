/* Shared test helpers: stack configs for tests. */
#ifndef TAPIR_TEST_HARNESS_H
#define TAPIR_TEST_HARNESS_H

#include <arpa/inet.h>

#include "tapir/tapir.h"

/* Defaults with a fixed seed, the given address/24 and link type. */
void harness_config(struct tapir_config *cfg, const char *ip, enum tapir_link_type link);

#endif
