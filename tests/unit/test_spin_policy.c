/* The driver's adaptive spin (src/sock/spin_policy.c), step by step: it
 * spins while spins catch frames, stops after SPIN_POLICY_MISSES empty
 * ones, then probes with an interval that doubles after every empty probe
 * up to SPIN_POLICY_PROBE_MAX, and a catch brings back spinning at once. */
#include <check.h>

#include "harness.h"
#include "sock/spin_policy.h"

#define SPIN 50u

/* Sleeps until the next spin (budget != 0), each given the result
 * `caught` when it spins; returns how many sleeps that took (the spinning
 * one included), or 0 if none spun within limit. */
static unsigned sleeps_until_spin(struct spin_policy *p, bool caught, unsigned limit)
{
    for (unsigned n = 1; n <= limit; n++) {
        unsigned b = spin_policy_budget(p, SPIN);
        ck_assert(b == 0 || b == SPIN);
        spin_policy_result(p, b, caught);
        if (b)
            return n;
    }
    return 0;
}

static void miss_until_probing(struct spin_policy *p)
{
    for (unsigned i = 0; i < SPIN_POLICY_MISSES; i++)
        ck_assert_uint_eq(sleeps_until_spin(p, false, 1), 1);
}

START_TEST(spins_while_spins_catch)
{
    struct spin_policy p = {0};
    for (int i = 0; i < 10000; i++)
        ck_assert_uint_eq(sleeps_until_spin(&p, true, 1), 1);
}
END_TEST

START_TEST(stops_after_misses_then_probes_at_the_minimum)
{
    struct spin_policy p = {0};
    miss_until_probing(&p);
    ck_assert_uint_eq(spin_policy_budget(&p, SPIN), 0);
    spin_policy_result(&p, 0, false);
    /* The first probe comes SPIN_POLICY_PROBE_MIN sleeps after the last
     * spin (one of them taken just above). */
    ck_assert_uint_eq(sleeps_until_spin(&p, false, 100000), SPIN_POLICY_PROBE_MIN - 1);
}
END_TEST

START_TEST(empty_probes_double_the_interval_up_to_the_cap)
{
    struct spin_policy p = {0};
    miss_until_probing(&p);
    unsigned want = SPIN_POLICY_PROBE_MIN;
    for (int i = 0; i < 12; i++) {
        ck_assert_uint_eq(sleeps_until_spin(&p, false, 100000), want);
        if (want < SPIN_POLICY_PROBE_MAX)
            want *= 2;
    }
    ck_assert_uint_eq(want, SPIN_POLICY_PROBE_MAX);
    /* At the cap, the share of sleeps that spin is under 1/1000: a
     * same-CPU round trip waits out a spin far less than once in 100. */
    unsigned spins = 0;
    for (int i = 0; i < 100000; i++) {
        unsigned b = spin_policy_budget(&p, SPIN);
        spin_policy_result(&p, b, false);
        spins += b != 0;
    }
    ck_assert_uint_le(spins, 100000 / 1000);
    ck_assert_uint_ge(spins, 100000 / SPIN_POLICY_PROBE_MAX);
}
END_TEST

START_TEST(a_caught_probe_brings_back_spinning)
{
    struct spin_policy p = {0};
    miss_until_probing(&p);
    for (int i = 0; i < 6; i++)
        ck_assert_uint_gt(sleeps_until_spin(&p, false, 100000), 0);
    ck_assert_uint_gt(sleeps_until_spin(&p, true, 100000), 1);   /* a probe, caught */
    for (int i = 0; i < 100; i++)
        ck_assert_uint_eq(sleeps_until_spin(&p, true, 1), 1);
    /* And the interval starts from the minimum again. */
    miss_until_probing(&p);
    ck_assert_uint_eq(sleeps_until_spin(&p, false, 100000), SPIN_POLICY_PROBE_MIN);
}
END_TEST

START_TEST(no_spin_configured_never_spins)
{
    struct spin_policy p = {0};
    for (int i = 0; i < 1000; i++) {
        ck_assert_uint_eq(spin_policy_budget(&p, 0), 0);
        spin_policy_result(&p, 0, false);
    }
}
END_TEST

static Suite *spin_policy_suite(void)
{
    Suite *su = suite_create("spin_policy");
    TCase *t = tcase_create("policy");
    tcase_add_test(t, spins_while_spins_catch);
    tcase_add_test(t, stops_after_misses_then_probes_at_the_minimum);
    tcase_add_test(t, empty_probes_double_the_interval_up_to_the_cap);
    tcase_add_test(t, a_caught_probe_brings_back_spinning);
    tcase_add_test(t, no_spin_configured_never_spins);
    suite_add_tcase(su, t);
    return su;
}

int main(void)
{
    return harness_run(spin_policy_suite());
}
