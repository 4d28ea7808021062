/* The runtime: a thread that drives one stack's core from a device.
 * (src/sock is the only place with threads and locks; DESIGN.md.)
 *
 * One mutex guards the core. The stack thread holds it while it feeds frames
 * and runs timers; API calls (socket.c) hold it briefly. After an API call
 * that may have moved a deadline (queued data, connect, close ...) the caller
 * calls runtime_kick() so the thread recomputes how long to sleep.
 */
#ifndef TAPIR_SOCK_RUNTIME_H
#define TAPIR_SOCK_RUNTIME_H

#include <pthread.h>
#include <stdbool.h>
#include <time.h>

#include "tapir/tapir.h"

/* The runtime of s, NULL if no thread drives it (tapir_stack_create only). */
struct runtime;
struct runtime *runtime_of(tapir_stack *s);

void runtime_lock(tapir_stack *s);
void runtime_unlock(tapir_stack *s);
/* Wake the stack thread so it re-reads the core's next deadline. */
void runtime_kick(tapir_stack *s);
/* With the lock held: kick the stack thread only if the core's next deadline
 * is now earlier than the one it sleeps until (a later one costs it at most
 * one early wake-up), sparing a wake-up of the thread per API call. */
void runtime_kick_if_earlier(tapir_stack *s);
/* With the lock held: wait until *watch != seen, or deadline (monotonic us,
 * UINT64_MAX: none), driving the device on this thread (caller-driven mode).
 * 0 (changed, or may have: stopping), -EAGAIN at the deadline, -EBUSY when
 * this thread cannot drive (off, another thread drives, no device fd ...):
 * then wait on a condition variable as before, counted by
 * runtime_cond_wait_begin/end. */
struct pollfd;
int runtime_drive_wait(tapir_stack *s, const unsigned *watch, unsigned seen, uint64_t deadline);
/* The same, also returning (0) when one of the caller's descriptors is ready:
 * fds[0] and fds[1] are the runtime's to fill, fds[2..nfds) the caller's
 * (tapir_poll's kernel descriptors); their revents are left as ppoll set
 * them. */
int runtime_drive_wait_fds(tapir_stack *s, const unsigned *watch, unsigned seen,
                           uint64_t deadline, struct pollfd *fds, unsigned long nfds);
/* With the lock held: true if the calling thread drives s's device waiting
 * for *watch (so a change of *watch needs no other wake-up). */
bool runtime_driver_is_self(tapir_stack *s, const unsigned *watch);
void runtime_cond_wait_begin(tapir_stack *s);
void runtime_cond_wait_end(tapir_stack *s);
/* With the lock held: *watch changed; if the thread driving the device waits
 * for it (and is not the caller), wake it. */
void runtime_wake_driver(tapir_stack *s, const unsigned *watch);
/* Waits that drove the device on the caller's thread so far (for tests). */
unsigned long runtime_drive_count(tapir_stack *s);
/* How often the stack thread has woken up (for tests). */
unsigned long runtime_thread_wakes(tapir_stack *s);
/* Frames a driver read first after a wait and answered before draining the
 * device: caught while it spun, and read on waking from its sleep (tests). */
void runtime_first_frame_counts(tapir_stack *s, unsigned long *spun, unsigned long *woke);
/* Monotonic now in microseconds (CLOCK_MONOTONIC), the clock the thread uses. */
tapir_time_t runtime_now(void);
/* us microseconds (a span, or a runtime_now() time) as a timespec. */
static inline struct timespec runtime_timespec(tapir_time_t us)
{
    return (struct timespec){.tv_sec = (time_t)(us / 1000000u), .tv_nsec = (long)(us % 1000000u) * 1000};
}
/* True once tapir_stack_stop() has begun: blocked callers must return. */
bool runtime_stopping(tapir_stack *s);

/* Hooks for the socket layer: called with the lock held, by the stack thread,
 * when the runtime starts (attach) and when it stops (detach, before the core
 * is destroyed: wake every waiter so it returns EBADF/ECONNABORTED). */
struct runtime_hooks {
    void (*attach)(tapir_stack *s);
    void (*detach)(tapir_stack *s);
};
void runtime_set_hooks(const struct runtime_hooks *hooks);

/* The default stack for the socket layer: the one given to
 * tapir_set_default_stack(), else the first started still running; NULL if
 * none runs. */
tapir_stack *runtime_default_stack(void);

#endif
