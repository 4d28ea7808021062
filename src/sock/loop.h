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

struct runtime {
    tapir_stack *stack;
    struct tapir_dev *dev;
    pthread_mutex_t lock;       /* guards the core */
    pthread_t thread;
    int epfd;                   /* device fd + evfd */
    int evfd;                   /* runtime_kick() */
    atomic_bool stopping;
    bool dev_failed;            /* the device returned a hard error */
    uint8_t *rxbuf;             /* one frame, read by the thread */
    size_t rxcap;
    struct runtime *next;       /* registry of running stacks, start order */
};

/* epoll tags of the two descriptors the thread watches. */
enum { LOOP_EV_DEVICE = 1, LOOP_EV_KICK = 2 };

/* The thread's body; arg is the struct runtime. */
void *loop_thread_main(void *arg);

/* Call the socket layer's hooks, if any (lock held). */
void runtime_call_attach(tapir_stack *s);
void runtime_call_detach(tapir_stack *s);

#endif
