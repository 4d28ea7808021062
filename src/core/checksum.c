#include "core/checksum.h"

#include <string.h>

/* acc + w with the carry out of bit 63 added back in (end-around carry). */
static inline uint64_t add_carry64(uint64_t acc, uint64_t w)
{
    acc += w;
    return acc + (acc < w);
}

uint32_t csum_partial(const void *data, size_t len, uint32_t sum)
{
    const uint8_t *p = data;
    uint64_t acc = 0;
    /* The one's complement sum does not depend on byte order (RFC 1071
     * section 2 (B)): add the data as 64-bit words in the host's order
     * (memcpy: no alignment needed), with end-around carry (2^32 and 2^64
     * are 1 modulo 2^16 - 1, so wide words fold to the same 16-bit sum,
     * 2 (C)), and swap the folded result once at the end on a little-endian
     * host. Every load starts at an even offset, so the 16-bit word grid is
     * kept. */
    /* Bulk: 32-bit words into eight 64-bit lanes with no carry to chase
     * (each lane would need 2^32 additions to overflow), which compilers
     * turn into vector adds; the lanes are combined with carry below. */
    if (len >= 32) {
        uint64_t lane[8] = {0};
        while (len >= 32) {
            uint32_t w[8];
            memcpy(w, p, sizeof w);
            for (int i = 0; i < 8; i++)
                lane[i] += w[i];
            p += 32;
            len -= 32;
        }
        for (int i = 0; i < 8; i++)
            acc = add_carry64(acc, lane[i]);
    }
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        acc = add_carry64(acc, w);
        p += 8;
        len -= 8;
    }
    if (len >= 4) {
        uint32_t w;
        memcpy(&w, p, 4);
        acc = add_carry64(acc, w);
        p += 4;
        len -= 4;
    }
    if (len >= 2) {
        uint16_t w;
        memcpy(&w, p, 2);
        acc = add_carry64(acc, w);
        p += 2;
        len -= 2;
    }
    if (len) {
        /* odd byte: the high-order byte of a word padded with zero (RFC 1071) */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        acc = add_carry64(acc, (uint64_t)p[0] << 8);
#else
        acc = add_carry64(acc, p[0]);
#endif
    }
    /* Fold 64 -> 16 bits. */
    acc = (acc & 0xffffffffu) + (acc >> 32);
    acc = (acc & 0xffffffffu) + (acc >> 32);
    uint32_t r = (uint32_t)((acc & 0xffff) + (acc >> 16));
    r = (r & 0xffff) + (r >> 16);
#if !(defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__)
    r = ((r & 0xff) << 8) | (r >> 8);
#endif
    /* Add the caller's partial; keep a 32-bit partial that is still summable. */
    uint64_t t = (uint64_t)r + sum;
    t = (t & 0xffff) + (t >> 16);
    return (uint32_t)t;
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
