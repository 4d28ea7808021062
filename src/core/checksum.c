#include "core/checksum.h"

#include <string.h>

uint32_t csum_partial(const void *data, size_t len, uint32_t sum)
{
    const uint8_t *p = data;
    uint64_t acc = sum;
    /* Sum 32 bits at a time into a 64-bit accumulator: the carries collect in
     * the top half and fold back below (RFC 1071 section 2 (B), (C)). */
    while (len >= 4) {
        acc += ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
        p += 4;
        len -= 4;
    }
    if (len >= 2) {
        acc += ((uint32_t)p[0] << 8) | p[1];
        p += 2;
        len -= 2;
    }
    if (len)
        acc += (uint32_t)p[0] << 8;   /* odd byte: pad with a zero (RFC 1071) */
    while (acc >> 32)
        acc = (acc & 0xffffffffu) + (acc >> 32);
    /* Keep a 32-bit partial that is still summable by the caller. */
    uint32_t r = (uint32_t)((acc & 0xffff) + (acc >> 16));
    return r;
}

uint16_t csum_fold(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

uint16_t csum_compute(const void *data, size_t len)
{
    return csum_fold(csum_partial(data, len, 0));
}

uint32_t csum_pseudo_ipv4(uint32_t src, uint32_t dst, uint8_t proto, uint16_t len)
{
    uint32_t sum = 0;
    sum += src >> 16;
    sum += src & 0xffff;
    sum += dst >> 16;
    sum += dst & 0xffff;
    sum += proto;
    sum += len;
    return sum;
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
