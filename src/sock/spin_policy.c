/* The driver's adaptive spin (spin_policy.h). */
#include "sock/spin_policy.h"

static unsigned probe_interval(struct spin_policy *p)
{
    if (p->probe_every == 0)
        p->probe_every = SPIN_POLICY_PROBE_MIN;
    return p->probe_every;
}

unsigned spin_policy_budget(struct spin_policy *p, unsigned spin_us)
{
    if (spin_us == 0)
        return 0;
    if (p->misses < SPIN_POLICY_MISSES)
        return spin_us;
    if (++p->skips < probe_interval(p))
        return 0;
    p->skips = 0;
    return spin_us;         /* a probe */
}

void spin_policy_result(struct spin_policy *p, unsigned spun, bool caught)
{
    if (!spun)
        return;
    if (caught) {
        p->misses = 0;
        p->skips = 0;
        p->probe_every = SPIN_POLICY_PROBE_MIN;
        return;
    }
    if (p->misses < SPIN_POLICY_MISSES) {
        p->misses++;
        return;
    }
    /* A probe that caught nothing: probe half as often. */
    if (probe_interval(p) < SPIN_POLICY_PROBE_MAX)
        p->probe_every *= 2;
}
