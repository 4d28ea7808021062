/* The device writer: an optional thread that does the device's write()s.
 *
 * On a plain TAP device every write() of a frame runs the kernel's whole
 * receive path for it (bridge, IP, TCP, waking the reader) inside the
 * writing thread. When tapir sends in bulk that kernel work, not tapir's own,
 * fills the sending CPU. A writer thread on another CPU takes it over: the
 * core's output callback copies each frame into a ring and the writer
 * writes the frames in order, one write() per frame as before.
 *
 * A hand-off costs latency (a wake-up of the writer), so in AUTO mode the
 * callback keeps writing small frames and the head of each burst inline and
 * hands over only the rest of a burst of large frames: bulk data
 * (writer_output). Frames never overtake each other: a frame
 * is written inline only when the ring is empty and the writer idle.
 *
 * Private to src/sock (threads live here only). All functions but
 * writer_stats are called with the runtime lock held by the one thread that
 * runs the core at the time, so there is one producer.
 */
#ifndef TAPIR_SOCK_WRITER_H
#define TAPIR_SOCK_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "tapir/tapir.h"

struct writer;
struct tapir_tx_thread_stats;

/* Start a writer for dev (frames of at most max_frame bytes; larger ones
 * are written inline once the ring is empty). mode as
 * tapir_config.tx_thread. 0 or -errno; *out is NULL when mode is off. */
int writer_start(struct tapir_dev *dev, size_t max_frame, enum tapir_tx_thread mode,
                 struct writer **out);
/* Write out every queued frame, stop the thread, free. NULL is fine. */
void writer_stop(struct writer *w);
/* The core's output for one frame: inline or queued. 0 or -errno (an
 * inline write's error; a queued frame's error is only counted). */
int writer_output(struct writer *w, const uint8_t *frame, size_t len);
/* A new burst begins (the runtime took the lock to run the core). */
void writer_burst_begin(struct writer *w);
/* Counters (any thread). */
void writer_stats(struct writer *w, struct tapir_tx_thread_stats *out);

#endif
