#include "core/checksum.h"

#include <string.h>

/* acc + w with the carry out of bit 63 added back in (end-around carry). */
static inline uint64_t add_carry64(uint64_t acc, uint64_t w)
{
    acc += w;
    return acc + (acc < w);
}

/* The bulk loops must be inlined into their two callers so the copy test
 * disappears; a hint only, the code is correct without it. */
#if defined(__GNUC__)
#define CSUM_INLINE static inline __attribute__((always_inline))
#else
#define CSUM_INLINE static inline
#endif

/* The bulk of csum_partial and csum_copy: the first *len bytes of src,
 * rounded down to a multiple of CSUM_UNIT (copied to dst when copy is
 * true), summed as 32-bit host-order words; *len is reduced by what was
 * done. Returns the 64-bit sum of all the 16-bit halves (host order).
 *
 * Each word w goes into two 32-bit lanes: all += w (wrapping) and
 * high += w >> 16. After k additions, high is the exact sum of the upper
 * halves (k * 0xffff < 2^32), and all - (high << 16) is, modulo 2^32, the
 * sum of the lower halves, which is below 2^32 and therefore exact too.
 * So the loop needs no carry handling at all: one shift and two adds per
 * word (plus one store for the copy). A round of at most CSUM_ROUND bytes
 * holds 2^17 words, at most 2^15 for each of the four vector positions:
 * added across the lane sets, the low and the high sums of a position are
 * each at most 2^15 * 0xffff, and both together still fit in 32 bits, so
 * they are combined before widening. */
#define CSUM_ROUND (8192u * 64u)

#if defined(__GNUC__)
/* GCC and Clang vector extensions: generic vectors, lowered to whatever
 * the target has (SSE2 on any x86-64, NEON, or scalar code). */
#define CSUM_UNIT 16u
typedef uint32_t csum_v4 __attribute__((vector_size(16)));

CSUM_INLINE uint64_t sum_bulk(uint8_t *restrict dst, const uint8_t *restrict src, size_t *len, int copy)
{
    uint64_t acc = 0;
    while (*len >= CSUM_UNIT) {
        size_t n = *len < CSUM_ROUND ? *len : CSUM_ROUND;
        size_t i = 0;
        csum_v4 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
        csum_v4 h0 = {0}, h1 = {0}, h2 = {0}, h3 = {0};
        /* 64 bytes per iteration: four vectors into four lane sets. */
        for (; i + 64 <= n; i += 64) {
            csum_v4 w0, w1, w2, w3;
            memcpy(&w0, src + i, 16);
            memcpy(&w1, src + i + 16, 16);
            memcpy(&w2, src + i + 32, 16);
            memcpy(&w3, src + i + 48, 16);
            if (copy) {
                memcpy(dst + i, &w0, 16);
                memcpy(dst + i + 16, &w1, 16);
                memcpy(dst + i + 32, &w2, 16);
                memcpy(dst + i + 48, &w3, 16);
            }
            a0 += w0;
            a1 += w1;
            a2 += w2;
            a3 += w3;
            h0 += w0 >> 16;
            h1 += w1 >> 16;
            h2 += w2 >> 16;
            h3 += w3 >> 16;
        }
        for (; i + CSUM_UNIT <= n; i += CSUM_UNIT) {
            csum_v4 w;
            memcpy(&w, src + i, sizeof w);
            if (copy)
                memcpy(dst + i, &w, sizeof w);
            a0 += w;
            h0 += w >> 16;
        }
        csum_v4 low = (a0 - (h0 << 16)) + (a1 - (h1 << 16)) + (a2 - (h2 << 16)) + (a3 - (h3 << 16));
        csum_v4 both = low + h0 + h1 + h2 + h3;     /* each below 2^31 + 2^31 */
        acc = add_carry64(acc, (uint64_t)both[0] + both[1] + both[2] + both[3]);
        src += i;
        if (copy)
            dst += i;
        *len -= i;
    }
    return acc;
}
#else
/* Plain C11: the same arithmetic on sixteen scalar lanes. */
#define CSUM_UNIT 64u
#define CSUM_LANES (CSUM_UNIT / 4u)

CSUM_INLINE uint64_t sum_bulk(uint8_t *restrict dst, const uint8_t *restrict src, size_t *len, int copy)
{
    uint64_t acc = 0;
    while (*len >= CSUM_UNIT) {
        size_t n = *len < CSUM_ROUND ? *len : CSUM_ROUND;
        size_t i = 0;
        uint32_t all[CSUM_LANES] = {0}, high[CSUM_LANES] = {0};
        for (; i + CSUM_UNIT <= n; i += CSUM_UNIT) {
            uint32_t w[CSUM_LANES];
            memcpy(w, src + i, sizeof w);
            if (copy)
                memcpy(dst + i, w, sizeof w);
            for (unsigned k = 0; k < CSUM_LANES; k++) {
                all[k] += w[k];
                high[k] += w[k] >> 16;
            }
        }
        for (unsigned k = 0; k < CSUM_LANES; k++)
            acc = add_carry64(acc, (uint64_t)(uint32_t)(all[k] - (high[k] << 16)) + high[k]);
        src += i;
        if (copy)
            dst += i;
        *len -= i;
    }
    return acc;
}
#endif

/* Fold a 64-bit sum of host-order words to the 16-bit one's complement sum
 * in network order, then add the caller's partial sum. */
static inline uint32_t finish(uint64_t acc, uint32_t sum)
{
    acc = (acc & 0xffffffffu) + (acc >> 32);
    acc = (acc & 0xffffffffu) + (acc >> 32);
    uint32_t r = (uint32_t)((acc & 0xffff) + (acc >> 16));
    r = (r & 0xffff) + (r >> 16);
    r = (r & 0xffff) + (r >> 16);
#if !(defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__)
    r = ((r & 0xff) << 8) | (r >> 8);
#endif
    /* Add the caller's partial; keep a 32-bit partial that is still summable. */
    uint64_t t = (uint64_t)r + sum;
    t = (t & 0xffff) + (t >> 16);
    return (uint32_t)t;
}

/* The common body: sum len bytes from src, copying them to dst if copy. */
CSUM_INLINE uint32_t sum_area(uint8_t *dst, const uint8_t *src, size_t len, uint32_t sum, int copy)
{
    /* The one's complement sum does not depend on byte order (RFC 1071
     * section 2 (B)): add the data as words in the host's order (memcpy:
     * no alignment needed), wide words folding to the same 16-bit sum as
     * 2^32 and 2^64 are 1 modulo 2^16 - 1 (2 (C)), and swap the folded
     * result once at the end on a little-endian host. Every load starts at
     * an even offset, so the 16-bit word grid is kept. */
    uint64_t acc = 0;
    /* Short areas (headers) are cheaper with the scalar words below than
     * with setting up and folding the vector lanes. */
    if (len >= 64) {
        size_t before = len;
        acc = sum_bulk(dst, src, &len, copy);
        src += before - len;
        if (copy)
            dst += before - len;
    }
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, src, 8);
        if (copy) {
            memcpy(dst, &w, 8);
            dst += 8;
        }
        acc = add_carry64(acc, w);
        src += 8;
        len -= 8;
    }
    if (len >= 4) {
        uint32_t w;
        memcpy(&w, src, 4);
        if (copy) {
            memcpy(dst, &w, 4);
            dst += 4;
        }
        acc = add_carry64(acc, w);
        src += 4;
        len -= 4;
    }
    if (len >= 2) {
        uint16_t w;
        memcpy(&w, src, 2);
        if (copy) {
            memcpy(dst, &w, 2);
            dst += 2;
        }
        acc = add_carry64(acc, w);
        src += 2;
        len -= 2;
    }
    if (len) {
        if (copy)
            dst[0] = src[0];
        /* odd byte: the high-order byte of a word padded with zero (RFC 1071) */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        acc = add_carry64(acc, (uint64_t)src[0] << 8);
#else
        acc = add_carry64(acc, src[0]);
#endif
    }
    return finish(acc, sum);
}

uint32_t csum_partial(const void *data, size_t len, uint32_t sum)
{
    return sum_area(NULL, data, len, sum, 0);
}

uint32_t csum_copy(void *dst, const void *src, size_t len, uint32_t sum)
{
    return sum_area(dst, src, len, sum, 1);
}

uint16_t csum_compute(const void *data, size_t len)
{
    return csum_fold(csum_partial(data, len, 0));
}

uint16_t csum_update16(uint16_t check, uint16_t old_word, uint16_t new_word)
{
    /* HC' = ~(~HC + ~m + m')  (RFC 1624 eqn. 3) */
    uint32_t sum = (uint16_t)~check;
    sum += (uint16_t)~old_word;
    sum += new_word;
    return csum_fold(sum);
}

uint16_t csum_update32(uint16_t check, uint32_t old_word, uint32_t new_word)
{
    check = csum_update16(check, (uint16_t)(old_word >> 16), (uint16_t)(new_word >> 16));
    return csum_update16(check, (uint16_t)old_word, (uint16_t)new_word);
}
