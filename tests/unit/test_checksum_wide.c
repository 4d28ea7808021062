/* csum_partial adds 64-bit host-order words: it must give exactly the
 * RFC 1071 sum of 16-bit big-endian words, for every length, start offset
 * (alignment), odd tail and incoming partial sum. Checked against a plain
 * byte-wise reference on random data. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/checksum.h"
#include "harness.h"

/* RFC 1071 section 4.1, word by word in network order. */
static uint16_t reference_fold(const uint8_t *p, size_t len, uint32_t sum)
{
    uint64_t acc = sum;
    while (len >= 2) {
        acc += ((uint32_t)p[0] << 8) | p[1];
        p += 2;
        len -= 2;
    }
    if (len)
        acc += (uint32_t)p[0] << 8;
    while (acc >> 16)
        acc = (acc & 0xffff) + (acc >> 16);
    return (uint16_t)~acc;
}

START_TEST(wide_sum_matches_rfc1071_reference)
{
    uint8_t buf[1600 + 8];
    unsigned seed = 12345;
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (uint8_t)rand_r(&seed);
    static const uint32_t sums[] = { 0, 1, 0xffff, 0x1fffe, 0x12345, 0xfffffff0u };
    for (size_t off = 0; off < 8; off++)
        for (size_t len = 0; len <= 1600; len += (len < 80 ? 1 : 37))
            for (size_t k = 0; k < sizeof sums / sizeof sums[0]; k++) {
                uint16_t want = reference_fold(buf + off, len, sums[k]);
                uint16_t got = csum_fold(csum_partial(buf + off, len, sums[k]));
                ck_assert_msg(got == want, "off %zu len %zu sum %x: %04x, want %04x",
                              off, len, sums[k], got, want);
            }
}
END_TEST

/* All-ones data is where end-around carries pile up. */
START_TEST(wide_sum_carries_of_all_ones)
{
    uint8_t buf[4096];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = 0xff;
    for (size_t len = 0; len <= sizeof buf; len += 61)
        ck_assert_uint_eq(csum_fold(csum_partial(buf, len, 0xffff)),
                          reference_fold(buf, len, 0xffff));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("checksum_wide");
    TCase *t = tcase_create("wide");
    tcase_add_test(t, wide_sum_matches_rfc1071_reference);
    tcase_add_test(t, wide_sum_carries_of_all_ones);
    suite_add_tcase(s, t);
    return harness_run(s);
}
