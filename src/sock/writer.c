/* The device writer thread (writer.h).
 *
 * A single-producer single-consumer ring of frame slots. The producer is
 * whichever thread runs the core (it holds the runtime lock); the consumer
 * is the writer thread. `head` counts frames queued, `tail` frames written:
 * the ring is empty and the writer idle exactly when they are equal, since
 * the writer moves `tail` only after its write() returned.
 *
 * Sleeping: the writer spins a little (WRITER_SPIN_US) when the ring runs
 * empty, then sleeps on a condition variable. It sets `writer_asleep` and
 * then looks at `head` once more; the producer publishes `head` and then
 * looks at `writer_asleep`. With a full fence on both sides one of them sees
 * the other, so no frame is left behind a sleeping writer. The same pattern
 * covers a producer waiting for room in a full ring.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "sock/runtime.h"
#include "sock/writer.h"

/* 512 slots of one plain frame each (about 800 KiB): room for a 256 KiB
 * send buffer's worth of segments several times over. */
#define WRITER_SLOTS 512u
/* AUTO: frames of a burst written inline before the rest is handed over.
 * A request/response exchange or a handshake step emits one or two. */
#define WRITER_INLINE_PER_BURST 2u
/* How long the writer keeps looking at an empty ring before it sleeps. */
#define WRITER_SPIN_US 20u

struct writer {
    struct tapir_dev *dev;
    enum tapir_tx_thread mode;
    size_t slot_size;
    uint8_t *slots;
    uint32_t lens[WRITER_SLOTS];
    unsigned burst;                  /* frames so far in this burst (producer) */

    _Atomic uint64_t head;           /* frames queued */
    _Atomic uint64_t tail;           /* frames written */
    atomic_bool writer_asleep;
    atomic_bool producer_waits;
    atomic_bool stop;
    pthread_mutex_t mx;
    pthread_cond_t wake_writer;
    pthread_cond_t wake_producer;
    pthread_t thread;

    _Atomic uint64_t n_inline, n_queued, n_errors, n_full_waits, n_wakeups;
};

static void count(_Atomic uint64_t *c)
{
    atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

/* Writer side: wait until the ring holds a frame past t; false on stop with
 * the ring empty. */
static bool writer_wait_frame(struct writer *w, uint64_t t)
{
    uint64_t spin_end = runtime_now() + WRITER_SPIN_US;
    for (;;) {
        if (atomic_load_explicit(&w->head, memory_order_acquire) != t)
            return true;
        if (atomic_load(&w->stop))
            return false;
        if (runtime_now() >= spin_end)
            break;
    }
    pthread_mutex_lock(&w->mx);
    for (;;) {
        /* Raised again before every look: a producer that saw an earlier
         * sleep's flag may clear it and signal late, after we took its
         * frame; with the flag down the next producer would not wake us. */
        atomic_store(&w->writer_asleep, true);
        atomic_thread_fence(memory_order_seq_cst);
        if (atomic_load(&w->head) != t || atomic_load(&w->stop))
            break;
        pthread_cond_wait(&w->wake_writer, &w->mx);
    }
    atomic_store(&w->writer_asleep, false);
    pthread_mutex_unlock(&w->mx);
    return atomic_load_explicit(&w->head, memory_order_acquire) != t;
}

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    uint64_t t = atomic_load(&w->tail);
    for (;;) {
        if (!writer_wait_frame(w, t))
            break;
        unsigned i = (unsigned)(t % WRITER_SLOTS);
        /* A full device queue drops the frame, as an inline write would:
         * TCP retransmits it. */
        if (tapir_dev_send(w->dev, w->slots + (size_t)i * w->slot_size, w->lens[i]) < 0)
            count(&w->n_errors);
        t++;
        atomic_store_explicit(&w->tail, t, memory_order_release);
        atomic_thread_fence(memory_order_seq_cst);
        if (atomic_load(&w->producer_waits)) {
            pthread_mutex_lock(&w->mx);
            pthread_cond_signal(&w->wake_producer);
            pthread_mutex_unlock(&w->mx);
        }
    }
    return NULL;
}

/* Producer side: wait until at most `left` frames are queued. */
static void wait_room(struct writer *w, uint64_t h, uint64_t left)
{
    if (h - atomic_load_explicit(&w->tail, memory_order_acquire) <= left)
        return;
    count(&w->n_full_waits);
    pthread_mutex_lock(&w->mx);
    atomic_store(&w->producer_waits, true);
    atomic_thread_fence(memory_order_seq_cst);
    while (h - atomic_load(&w->tail) > left)
        pthread_cond_wait(&w->wake_producer, &w->mx);
    atomic_store(&w->producer_waits, false);
    pthread_mutex_unlock(&w->mx);
}

int writer_output(struct writer *w, const uint8_t *frame, size_t len)
{
    uint64_t h = atomic_load_explicit(&w->head, memory_order_relaxed);
    bool idle = atomic_load_explicit(&w->tail, memory_order_acquire) == h;
    w->burst++;
    /* AUTO hands over only the bulk of a burst of large frames: small ones
     * (handshakes, ACKs, requests) keep their latency, and so does the
     * head of a burst, e.g. one large response. */
    bool small = len < w->slot_size / 2;
    if (len > w->slot_size || (w->mode == TAPIR_TX_THREAD_AUTO && idle &&
                               (small || w->burst <= WRITER_INLINE_PER_BURST))) {
        wait_room(w, h, 0);      /* only an oversized frame can find it busy */
        count(&w->n_inline);
        return tapir_dev_send(w->dev, frame, len);
    }
    wait_room(w, h, WRITER_SLOTS - 1);
    unsigned i = (unsigned)(h % WRITER_SLOTS);
    memcpy(w->slots + (size_t)i * w->slot_size, frame, len);
    w->lens[i] = (uint32_t)len;
    atomic_store_explicit(&w->head, h + 1, memory_order_release);
    count(&w->n_queued);
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load(&w->writer_asleep)) {
        pthread_mutex_lock(&w->mx);
        if (atomic_load(&w->writer_asleep)) {
            /* One wake-up per sleep, not one per frame queued meanwhile. */
            atomic_store(&w->writer_asleep, false);
            pthread_cond_signal(&w->wake_writer);
            count(&w->n_wakeups);
        }
        pthread_mutex_unlock(&w->mx);
    }
    return 0;
}

void writer_burst_begin(struct writer *w)
{
    if (w)
        w->burst = 0;
}

int writer_start(struct tapir_dev *dev, size_t max_frame, enum tapir_tx_thread mode,
                 struct writer **out)
{
    *out = NULL;
    if (mode == TAPIR_TX_THREAD_OFF)
        return 0;
    struct writer *w = calloc(1, sizeof *w);
    if (!w)
        return -ENOMEM;
    w->dev = dev;
    w->mode = mode;
    w->slot_size = max_frame;
    w->slots = malloc(WRITER_SLOTS * max_frame);
    if (!w->slots) {
        free(w);
        return -ENOMEM;
    }
    pthread_mutex_init(&w->mx, NULL);
    pthread_cond_init(&w->wake_writer, NULL);
    pthread_cond_init(&w->wake_producer, NULL);
    /* Like the stack thread: no process signal is delivered here. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&w->thread, NULL, writer_main, w);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        pthread_cond_destroy(&w->wake_producer);
        pthread_cond_destroy(&w->wake_writer);
        pthread_mutex_destroy(&w->mx);
        free(w->slots);
        free(w);
        return -rc;
    }
    *out = w;
    return 0;
}

void writer_stop(struct writer *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mx);
    atomic_store(&w->stop, true);
    pthread_cond_signal(&w->wake_writer);
    pthread_mutex_unlock(&w->mx);
    pthread_join(w->thread, NULL);      /* it writes out what is queued first */
    pthread_cond_destroy(&w->wake_producer);
    pthread_cond_destroy(&w->wake_writer);
    pthread_mutex_destroy(&w->mx);
    free(w->slots);
    free(w);
}

void writer_stats(struct writer *w, struct tapir_tx_thread_stats *out)
{
    memset(out, 0, sizeof *out);
    if (!w)
        return;
    out->running = true;
    out->frames_inline = atomic_load(&w->n_inline);
    out->frames_queued = atomic_load(&w->n_queued);
    out->frames_waiting = atomic_load(&w->head) - atomic_load(&w->tail);
    out->write_errors = atomic_load(&w->n_errors);
    out->ring_full_waits = atomic_load(&w->n_full_waits);
    out->writer_wakeups = atomic_load(&w->n_wakeups);
}
