/* Private to src/sock: the runtime object shared by runtime.c (lifecycle,
 * registry) and loop.c (the stack thread). */
#ifndef TAPIR_SOCK_LOOP_H
#define TAPIR_SOCK_LOOP_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sock/runtime.h"
#include "sock/spin_policy.h"
#include "sock/writer.h"

struct tapir_frame_meta;

struct runtime {
    tapir_stack *stack;
    struct tapir_dev *dev;
    pthread_mutex_t lock;       /* guards the core */
    pthread_t thread;
    int epfd;                   /* device fd + evfd + check_tfd */
    int evfd;                   /* runtime_kick() */
    int check_tfd;              /* wakes the thread to look at a parked device */
    tapir_time_t check_at;      /* when check_tfd expires (0: not armed, or expired); lock */
    unsigned long thread_wakes; /* the thread's wake-ups (runtime_thread_wakes) */
    atomic_bool stopping;
    bool dev_failed;            /* the device returned a hard error */
    uint8_t *rxbuf;             /* one frame, read by the thread */
    size_t rxcap;
    struct runtime *next;       /* registry of running stacks, start order */
    struct writer *writer;      /* the device writer thread, NULL: none (writer.h) */

    /* Caller-driven mode (drive.c); all guarded by lock. */
    bool caller_drive;          /* application threads may drive the device */
    unsigned spin_us;           /* busy-poll before sleeping (0: none) */
    struct spin_policy spin;    /* when to spin (spin_policy.h) */
    bool driving;               /* an application thread drives right now */
    pthread_t driver;           /* ... this one */
    const unsigned *drive_watch;  /* ... waiting for this counter to change */
    int drv_evfd;               /* wakes the driving thread (runtime_wake_driver) */
    bool dev_parked;            /* the stack thread's epoll ignores the device */
    unsigned cond_waiters;      /* callers asleep on a condition variable */
    tapir_time_t thread_deadline;  /* what the stack thread sleeps until */
    unsigned long drive_count;  /* waits that drove (runtime_drive_count) */
    unsigned long spin_frames;  /* first frames read while spinning, */
    unsigned long wake_frames;  /* ... on waking (runtime_first_frame_counts) */
    tapir_time_t drive_left;    /* when the last driver left */
};

/* epoll tags of the three descriptors the thread watches. */
enum { LOOP_EV_DEVICE = 1, LOOP_EV_KICK = 2, LOOP_EV_CHECK = 3 };

/* Read one frame from the device into rt->rxbuf: its length, -EAGAIN when
 * there is none, or another -errno. Whoever calls it owns rxbuf: the lock
 * holder, or the driver while it drives (the stack thread leaves the device
 * alone then, see drive.c). */
long loop_recv_frame(struct runtime *rt, struct tapir_frame_meta *meta);
/* Feed waiting frames to the core (lock held). */
void loop_read_frames(struct runtime *rt);
/* Feed the len-byte frame in rxbuf (from loop_recv_frame) to the core as a
 * batch of its own (lock held). */
void loop_input_one(struct runtime *rt, size_t len, const struct tapir_frame_meta *meta);
/* The same as one batch of the core (tapir_stack_batch_begin/end). */
void loop_read_batch(struct runtime *rt);
/* Make the stack thread's epoll ignore (park) or watch the device (lock held). */
void loop_park_device(struct runtime *rt, bool park);
/* A driver left the device at `left` (lock held): make sure the stack
 * thread looks at it once nobody has driven it for a while (loop.c). */
void loop_driver_left(struct runtime *rt, tapir_time_t left);
/* When the stack thread wakes up next at the latest (lock held): a timer
 * due earlier needs a kick (runtime_kick_if_earlier). */
tapir_time_t loop_wake_by(const struct runtime *rt);

/* Caller-driven mode's defaults: on, a 50 us adaptive spin; the environment
 * may override them (TAPIR_CALLER_DRIVE=0, TAPIR_SPIN_US=N) for tuning
 * without a rebuild. */
void runtime_drive_defaults(struct runtime *rt);

/* The thread's body; arg is the struct runtime. */
void *loop_thread_main(void *arg);

/* Call the socket layer's hooks, if any (lock held). */
void runtime_call_attach(tapir_stack *s);
void runtime_call_detach(tapir_stack *s);

#endif
