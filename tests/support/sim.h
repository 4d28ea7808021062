/* sim: run stacks (and scripted peers) attached to vlink ends on one
 * virtual clock. Shared by the network, TCP and socket test suites.
 *
 *   struct tapir_vlink_params p;  tapir_vlink_params_init(&p);  p.seed = 1;
 *   struct tapir_dev *a, *b;      tapir_vlink_create(&p, &a, &b);
 *   struct sim *sim = sim_new(TAPIR_SEC(1));
 *   sim_add_stack(sim, stack1, a);          stack1's output now goes into a
 *   sim_add_peer(sim, b, on_frame, ctx);    frames arriving at b go to on_frame
 *   bool ok = sim_run_until(sim, done, ctx, TAPIR_SEC(10));
 *   ...
 *   sim_free(sim);                          also destroys the vlink ends
 *
 * One step of the loop: set every link's clock to now; deliver every frame
 * due at now (tapir_stack_input / the peer callback); poll every stack whose
 * deadline has come; repeat until nothing more happens at this instant; ask
 * the condition; then advance now to the next event (the earliest stack
 * deadline or frame delivery). It stops when the condition holds (true) or
 * when the next event lies past the limit (false; now is then the limit, and
 * the vlink seeds are printed to stderr so the run can be replayed).
 *
 * The sim does not own the stacks (the test destroys them) but owns the
 * vlink ends given to it.
 */
#ifndef TAPIR_TEST_SIM_H
#define TAPIR_TEST_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tapir/tapir.h"
#include "tapir/vlink.h"

#define SIM_MAX_NODES 16

struct sim;
/* A frame arrived at a scripted peer's end. The peer may answer with
 * tapir_dev_send(dev, ...) (it goes out at the sim's current time). */
typedef void (*sim_frame_fn)(void *ctx, struct tapir_dev *dev, const uint8_t *frame, size_t len,
                             tapir_time_t now);
/* Checked after each instant; true stops the run. */
typedef bool (*sim_cond_fn)(struct sim *sim, void *ctx);

struct sim *sim_new(tapir_time_t start);
/* Destroys the vlink ends given to sim_add_*, not the stacks. */
void sim_free(struct sim *sim);
/* Attach stack to end dev: sets the stack's output to dev. Node index or -1. */
int sim_add_stack(struct sim *sim, tapir_stack *stack, struct tapir_dev *dev);
/* A scripted peer on end dev. Node index or -1. */
int sim_add_peer(struct sim *sim, struct tapir_dev *dev, sim_frame_fn fn, void *ctx);
tapir_time_t sim_now(const struct sim *sim);
/* Run until cond(sim, ctx) is true (cond NULL: never) or virtual time limit
 * (absolute). True if the condition was met. */
bool sim_run_until(struct sim *sim, sim_cond_fn cond, void *ctx, tapir_time_t limit);
/* Run for duration of virtual time from now. */
void sim_run_for(struct sim *sim, tapir_time_t duration);
/* Print each link's seed (to replay a failing run). */
void sim_print_seeds(const struct sim *sim, const char *why);

#endif
