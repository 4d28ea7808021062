/* Objects kept for reuse (spare lists: sockets, connections, ring storage)
 * are poisoned for AddressSanitizer while they wait, so a use after "free"
 * is still caught in the sanitizer build as it would be after free(). The
 * list's link (a pointer at byte link_off) stays readable, so that
 * LeakSanitizer still sees the spares as reachable. */
#ifndef TAPIR_CORE_SPARE_POISON_H
#define TAPIR_CORE_SPARE_POISON_H

#include <stddef.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#endif

static inline void spare_poison(void *p, size_t n, size_t link_off)
{
#if defined(__SANITIZE_ADDRESS__)
    char *b = p;
    ASAN_POISON_MEMORY_REGION(b, link_off);
    size_t after = link_off + sizeof(void *);
    ASAN_POISON_MEMORY_REGION(b + after, n - after);
#else
    (void)p;
    (void)n;
    (void)link_off;
#endif
}

static inline void spare_unpoison(void *p, size_t n)
{
#if defined(__SANITIZE_ADDRESS__)
    ASAN_UNPOISON_MEMORY_REGION(p, n);
#else
    (void)p;
    (void)n;
#endif
}

#endif
