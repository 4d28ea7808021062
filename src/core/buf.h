/* Packet buffers: a fixed pool allocated once at stack creation.
 *
 * Steady-state traffic never calls malloc: a frame being built or held (ARP
 * queue, reassembly) lives in a buffer from the pool. When the pool is empty
 * buf_alloc() returns NULL and counts it; the caller drops the frame.
 *
 * A buffer is one contiguous area [head, head+cap). The valid bytes are
 * [data, data+len). Headers are prepended with buf_push() into the headroom
 * reserved by buf_reserve(), so a payload is written once and never moved.
 */
#ifndef TAPIR_CORE_BUF_H
#define TAPIR_CORE_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tapir/tapir.h"

/* Headroom that fits Ethernet (14) + IPv4 with options (60) + TCP (60). */
#define BUF_HEADROOM 136

struct buf {
    struct buf *next;       /* for whoever queues it */
    uint8_t *head;          /* start of the memory */
    uint8_t *data;          /* first valid byte */
    uint32_t len;           /* valid bytes */
    uint32_t cap;           /* bytes at head */
    uint32_t tag;           /* free for the holder (e.g. the next hop) */
    tapir_time_t stamp;     /* free for the holder (e.g. when it was queued) */
    /* Offload metadata of the frame held (reset by buf_alloc/buf_scratch_reset). */
    uint16_t gso_size;      /* payload per wire segment of a TSO frame; 0: none */
    uint8_t *csum_l4;       /* TCP header whose checksum is left partial; NULL: complete */
    bool external;          /* not from the pool (the stack's TSO scratch): buf_free ignores it */
};

struct buf_pool {
    struct buf *bufs;       /* descriptors */
    uint8_t *mem;           /* count * size bytes */
    struct buf *free_list;
    uint32_t count, size, in_use;
    uint64_t *fail_counter; /* incremented when empty (stats.buf_alloc_fail) */
};

int  buf_pool_init(struct buf_pool *p, uint32_t count, uint32_t size, uint64_t *fail_counter);
void buf_pool_destroy(struct buf_pool *p);

/* A buffer with BUF_HEADROOM reserved and len 0, or NULL if the pool is empty. */
struct buf *buf_alloc(struct buf_pool *p);
void buf_free(struct buf_pool *p, struct buf *b);
/* Make an external buffer (memory owned elsewhere, e.g. the stack's one TSO
 * scratch area) ready for a new frame, as buf_alloc does for the pool's. */
void buf_scratch_reset(struct buf *b);
/* Free a whole ->next chain. */
void buf_free_chain(struct buf_pool *p, struct buf *b);

static inline uint32_t buf_headroom(const struct buf *b) { return (uint32_t)(b->data - b->head); }
static inline uint32_t buf_tailroom(const struct buf *b) { return b->cap - buf_headroom(b) - b->len; }

/* Prepend n bytes (a header); returns where to write it, NULL if no room. */
uint8_t *buf_push(struct buf *b, uint32_t n);
/* Append n bytes; returns where to write them, NULL if no room. */
uint8_t *buf_put(struct buf *b, uint32_t n);
/* Remove n bytes from the front; returns the new data pointer, NULL if n > len. */
uint8_t *buf_pull(struct buf *b, uint32_t n);

#endif
