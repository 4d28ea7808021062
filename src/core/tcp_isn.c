/* Initial sequence numbers (RFC 6528): ISN = M + F(localip, localport,
 * remoteip, remoteport, secretkey), M a 4-microsecond clock and F
 * SipHash-2-4 (Aumasson and Bernstein), written here from its paper. */
#include <string.h>

#include "core/tcp_conn.h"

static inline uint64_t rotl64(uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }

#define SIPROUND(v0, v1, v2, v3)                                   \
    do {                                                           \
        v0 += v1; v1 = rotl64(v1, 13); v1 ^= v0; v0 = rotl64(v0, 32); \
        v2 += v3; v3 = rotl64(v3, 16); v3 ^= v2;                   \
        v0 += v3; v3 = rotl64(v3, 21); v3 ^= v0;                   \
        v2 += v1; v1 = rotl64(v1, 17); v1 ^= v2; v2 = rotl64(v2, 32); \
    } while (0)

static uint64_t load_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

uint64_t tcp_siphash24(uint64_t k0, uint64_t k1, const uint8_t *msg, size_t len)
{
    uint64_t v0 = 0x736f6d6570736575ull ^ k0;
    uint64_t v1 = 0x646f72616e646f6dull ^ k1;
    uint64_t v2 = 0x6c7967656e657261ull ^ k0;
    uint64_t v3 = 0x7465646279746573ull ^ k1;
    size_t full = len - len % 8;
    for (size_t i = 0; i < full; i += 8) {
        uint64_t m = load_le64(msg + i);
        v3 ^= m;
        SIPROUND(v0, v1, v2, v3);
        SIPROUND(v0, v1, v2, v3);
        v0 ^= m;
    }
    uint64_t last = (uint64_t)(len & 0xff) << 56;
    for (size_t i = 0; i < len % 8; i++)
        last |= (uint64_t)msg[full + i] << (8 * i);
    v3 ^= last;
    SIPROUND(v0, v1, v2, v3);
    SIPROUND(v0, v1, v2, v3);
    v0 ^= last;
    v2 ^= 0xff;
    for (int i = 0; i < 4; i++)
        SIPROUND(v0, v1, v2, v3);
    return v0 ^ v1 ^ v2 ^ v3;
}

uint32_t tcp_isn(struct tapir_stack *s, uint32_t lip, uint16_t lport, uint32_t rip, uint16_t rport)
{
    uint8_t m[12];
    memcpy(m, &lip, 4);
    memcpy(m + 4, &rip, 4);
    memcpy(m + 8, &lport, 2);
    memcpy(m + 10, &rport, 2);
    uint64_t f = tcp_siphash24(s->tcp->isn_k0, s->tcp->isn_k1, m, sizeof m);
    return (uint32_t)(s->now / 4) + (uint32_t)f;
}
