#include "core/buf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int buf_pool_init(struct buf_pool *p, uint32_t count, uint32_t size, uint64_t *fail_counter)
{
    memset(p, 0, sizeof *p);
    if (count == 0 || size <= BUF_HEADROOM)
        return -EINVAL;
    p->bufs = calloc(count, sizeof *p->bufs);
    p->mem = malloc((size_t)count * size);
    if (!p->bufs || !p->mem) {
        free(p->bufs);
        free(p->mem);
        memset(p, 0, sizeof *p);
        return -ENOMEM;
    }
    p->count = count;
    p->size = size;
    p->fail_counter = fail_counter;
    for (uint32_t i = count; i-- > 0;) {
        struct buf *b = &p->bufs[i];
        b->head = p->mem + (size_t)i * size;
        b->cap = size;
        b->next = p->free_list;
        p->free_list = b;
    }
    return 0;
}

void buf_pool_destroy(struct buf_pool *p)
{
    free(p->bufs);
    free(p->mem);
    memset(p, 0, sizeof *p);
}

struct buf *buf_alloc(struct buf_pool *p)
{
    struct buf *b = p->free_list;
    if (!b) {
        if (p->fail_counter)
            (*p->fail_counter)++;
        return NULL;
    }
    p->free_list = b->next;
    p->in_use++;
    b->next = NULL;
    b->data = b->head + BUF_HEADROOM;
    b->len = 0;
    b->tag = 0;
    b->stamp = 0;
    b->gso_size = 0;
    b->csum_l4 = NULL;
    b->external = false;
    return b;
}

void buf_scratch_reset(struct buf *b)
{
    b->next = NULL;
    b->data = b->head + BUF_HEADROOM;
    b->len = 0;
    b->tag = 0;
    b->stamp = 0;
    b->gso_size = 0;
    b->csum_l4 = NULL;
    b->external = true;
}

void buf_free(struct buf_pool *p, struct buf *b)
{
    if (!b || b->external)
        return;
    b->next = p->free_list;
    p->free_list = b;
    p->in_use--;
}

void buf_free_chain(struct buf_pool *p, struct buf *b)
{
    while (b) {
        struct buf *next = b->next;
        buf_free(p, b);
        b = next;
    }
}

uint8_t *buf_push(struct buf *b, uint32_t n)
{
    if (buf_headroom(b) < n)
        return NULL;
    b->data -= n;
    b->len += n;
    return b->data;
}

uint8_t *buf_put(struct buf *b, uint32_t n)
{
    if (buf_tailroom(b) < n)
        return NULL;
    uint8_t *at = b->data + b->len;
    b->len += n;
    return at;
}

uint8_t *buf_pull(struct buf *b, uint32_t n)
{
    if (n > b->len)
        return NULL;
    b->data += n;
    b->len -= n;
    return b->data;
}
