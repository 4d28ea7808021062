#include "sim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Steps at one instant before the sim decides frames ping-pong forever at
 * zero delay and nudges the clock by 1 us (bounded work, never a hang). */
#define SIM_MAX_STEPS_PER_INSTANT 100000

struct sim_node {
    tapir_stack *stack;         /* NULL for a scripted peer */
    struct tapir_dev *dev;
    sim_frame_fn fn;
    void *ctx;
};

struct sim {
    tapir_time_t now;
    size_t count;
    struct sim_node nodes[SIM_MAX_NODES];
    uint8_t frame[65536];
};

struct sim *sim_new(tapir_time_t start)
{
    struct sim *sim = calloc(1, sizeof *sim);
    if (sim)
        sim->now = start;
    return sim;
}

void sim_free(struct sim *sim)
{
    if (!sim)
        return;
    for (size_t i = 0; i < sim->count; i++)
        tapir_dev_destroy(sim->nodes[i].dev);
    free(sim);
}

static int stack_to_dev(void *ctx, const uint8_t *frame, size_t len)
{
    return tapir_dev_send(ctx, frame, len);
}

static int add(struct sim *sim, tapir_stack *stack, struct tapir_dev *dev, sim_frame_fn fn, void *ctx)
{
    if (sim->count >= SIM_MAX_NODES || !tapir_dev_is_vlink(dev))
        return -1;
    struct sim_node *n = &sim->nodes[sim->count];
    n->stack = stack;
    n->dev = dev;
    n->fn = fn;
    n->ctx = ctx;
    tapir_vlink_set_time(dev, sim->now);
    return (int)sim->count++;
}

int sim_add_stack(struct sim *sim, tapir_stack *stack, struct tapir_dev *dev)
{
    int i = add(sim, stack, dev, NULL, NULL);
    if (i >= 0)
        tapir_stack_set_output(stack, stack_to_dev, dev);
    return i;
}

int sim_add_peer(struct sim *sim, struct tapir_dev *dev, sim_frame_fn fn, void *ctx)
{
    return add(sim, NULL, dev, fn, ctx);
}

tapir_time_t sim_now(const struct sim *sim) { return sim->now; }

/* Deliver due frames and run due timers once; true if anything happened. */
static bool step(struct sim *sim)
{
    bool any = false;
    for (size_t i = 0; i < sim->count; i++) {
        struct sim_node *n = &sim->nodes[i];
        tapir_vlink_set_time(n->dev, sim->now);
        long len;
        while ((len = tapir_dev_recv(n->dev, sim->frame, sizeof sim->frame)) >= 0) {
            any = true;
            if (n->stack)
                tapir_stack_input(n->stack, sim->frame, (size_t)len, sim->now);
            else if (n->fn)
                n->fn(n->ctx, n->dev, sim->frame, (size_t)len, sim->now);
        }
    }
    for (size_t i = 0; i < sim->count; i++) {
        struct sim_node *n = &sim->nodes[i];
        if (n->stack && tapir_stack_next_deadline(n->stack) <= sim->now) {
            tapir_stack_poll(n->stack, sim->now);
            any = true;
        }
    }
    return any;
}

static tapir_time_t sim_time_min(tapir_time_t a, tapir_time_t b) { return a < b ? a : b; }

static tapir_time_t next_event(const struct sim *sim)
{
    tapir_time_t t = TAPIR_TIME_NEVER;
    for (size_t i = 0; i < sim->count; i++) {
        const struct sim_node *n = &sim->nodes[i];
        t = sim_time_min(t, tapir_vlink_next_delivery(n->dev));
        if (n->stack)
            t = sim_time_min(t, tapir_stack_next_deadline(n->stack));
    }
    return t;
}

void sim_print_seeds(const struct sim *sim, const char *why)
{
    fprintf(stderr, "sim: %s at t=%llu us; vlink seeds:", why, (unsigned long long)sim->now);
    for (size_t i = 0; i < sim->count; i++)
        fprintf(stderr, " %s=%llu", sim->nodes[i].dev->name,
                (unsigned long long)tapir_vlink_seed(sim->nodes[i].dev));
    fprintf(stderr, "\n");
}

bool sim_run_until(struct sim *sim, sim_cond_fn cond, void *ctx, tapir_time_t limit)
{
    for (;;) {
        unsigned steps = 0;
        while (step(sim)) {
            if (++steps >= SIM_MAX_STEPS_PER_INSTANT) {
                /* A stack keeps a deadline at or before now, or frames
                 * bounce at zero delay: move on rather than hang. */
                sim->now++;
                steps = 0;
            }
        }
        if (cond && cond(sim, ctx))
            return true;
        tapir_time_t next = next_event(sim);
        if (next == TAPIR_TIME_NEVER || next > limit) {
            if (limit > sim->now)
                sim->now = limit;
            for (size_t i = 0; i < sim->count; i++)
                tapir_vlink_set_time(sim->nodes[i].dev, sim->now);
            if (cond)
                sim_print_seeds(sim, "condition not met");
            return false;
        }
        sim->now = next > sim->now ? next : sim->now + 1;
    }
}

void sim_run_for(struct sim *sim, tapir_time_t duration)
{
    sim_run_until(sim, NULL, NULL, sim->now + duration);
}
