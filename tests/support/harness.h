/* Shared test helpers: stack configs for tests. */
#ifndef TAPIR_TEST_HARNESS_H
#define TAPIR_TEST_HARNESS_H

#include <arpa/inet.h>

#include <check.h>
#include <stdatomic.h>

#include "tapir/tapir.h"

/* Check records every passing assertion as a mark point: a message to the
 * runner, which unpacks them all at the test's end in time quadratic in
 * their number. Tests that assert in loops spent most of their time there
 * (test_tcp_hostile: half of it under ASan). A passing assertion here only
 * notes its place, which the harness prints if the test then dies of a
 * signal (Check's "after this point" line would show the test's start).
 * mark_point() still sends a mark point where one is wanted. */
extern _Atomic(const char *) harness_pass_file;
extern atomic_int harness_pass_line;
static inline void harness_passed(const char *file, int line)
{
    atomic_store_explicit(&harness_pass_file, file, memory_order_relaxed);
    atomic_store_explicit(&harness_pass_line, line, memory_order_relaxed);
}
#undef ck_assert_msg
#define ck_assert_msg(expr, ...)                                                       \
    ((expr) ? harness_passed(__FILE__, __LINE__)                                        \
            : _ck_assert_failed(__FILE__, __LINE__, "Assertion '" #expr "' failed", ##__VA_ARGS__))

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
