/* The Internet checksum (RFC 1071) and its incremental update (RFC 1624). */
#ifndef TAPIR_CORE_CHECKSUM_H
#define TAPIR_CORE_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>

/* One's-complement sum of data (not yet folded or complemented), added to
 * sum. Chain calls to cover several areas; every area but the last must have
 * an even length. */
uint32_t csum_partial(const void *data, size_t len, uint32_t sum);
/* memcpy(dst, src, len) and csum_partial(src, len, sum) in one pass over the
 * data (it is read once). Same contract as csum_partial: the area is summed
 * as if it started on the 16-bit word grid, so when chaining, every area
 * but the last must have an even length. An area that starts at an odd
 * offset of the summed stream (after an odd-length one, e.g. the second
 * part of a wrapped ring) is summed on its own (sum 0) and added with
 * csum_add_at(). dst and src must not overlap; only [dst, dst+len) is
 * written. */
uint32_t csum_copy(void *dst, const void *src, size_t len, uint32_t sum);
/* Add area_sum, the partial sum of an area computed as if it started on
 * the word grid (csum_partial/csum_copy with sum 0), for an area that
 * really starts at byte offset of the summed stream: at an odd offset its
 * bytes are the other halves of their words, so the sum's bytes are
 * swapped (RFC 1071 section 2 (B)). Returns a summable partial. */
static inline uint32_t csum_add_at(uint32_t sum, uint32_t area_sum, size_t offset)
{
    /* Fold the area's sum to 16 bits first so the swap is a rotation of
     * the one's complement value (RFC 1071 2 (B): swapping the bytes of
     * every word swaps the bytes of the sum). */
    area_sum = (area_sum & 0xffff) + (area_sum >> 16);
    area_sum = (area_sum & 0xffff) + (area_sum >> 16);
    if (offset & 1)
        area_sum = ((area_sum & 0xff) << 8) | (area_sum >> 8);
    uint64_t t = (uint64_t)sum + area_sum;
    t = (t & 0xffff) + (t >> 16);
    t = (t & 0xffff) + (t >> 16);
    return (uint32_t)t;
}
/* Fold a partial sum to 16 bits and complement it: the checksum field value,
 * in host order (store it with a big-endian write). */
static inline uint16_t csum_fold(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}
/* csum_fold(csum_partial(data, len, 0)). Verifying: a correct header sums to 0. */
uint16_t csum_compute(const void *data, size_t len);
/* Partial sum of the IPv4 pseudo-header used by TCP and UDP (RFC 9293 3.1):
 * addresses in host order, proto, and the length of the TCP header + data. */
static inline uint32_t csum_pseudo_ipv4(uint32_t src, uint32_t dst, uint8_t proto, uint16_t len)
{
    return (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) + proto + (uint32_t)len;
}
/* RFC 1624 eqn. 3: the new checksum after a 16-bit field changed from old to new.
 * check, old and new are host-order values. */
uint16_t csum_update16(uint16_t check, uint16_t old_word, uint16_t new_word);
/* The same for a 32-bit field (two 16-bit words). */
uint16_t csum_update32(uint16_t check, uint32_t old_word, uint32_t new_word);

#endif
