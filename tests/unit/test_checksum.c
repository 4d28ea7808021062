/* RFC 1071 checksum: known vectors, odd lengths, chaining, incremental update. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "core/checksum.h"
#include "harness.h"

/* The IPv4 header from the classic worked example (checksum 0xb861). */
static const uint8_t ip_header[20] = {
    0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
    0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
};

START_TEST(known_ipv4_header_vector)
{
    ck_assert_uint_eq(csum_compute(ip_header, sizeof ip_header), 0xb861);
}
END_TEST

START_TEST(header_with_its_checksum_sums_to_zero)
{
    uint8_t h[20];
    memcpy(h, ip_header, 20);
    h[10] = 0xb8;
    h[11] = 0x61;
    ck_assert_uint_eq(csum_compute(h, 20), 0);
}
END_TEST

START_TEST(rfc1071_example_bytes)
{
    /* RFC 1071 section 3: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2 (checksum ~ = 220d). */
    const uint8_t d[8] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
    ck_assert_uint_eq(csum_compute(d, 8), (uint16_t)~0xddf2);
}
END_TEST

START_TEST(odd_length_pads_with_zero)
{
    const uint8_t odd[3] = {0x12, 0x34, 0x56};
    const uint8_t even[4] = {0x12, 0x34, 0x56, 0x00};
    ck_assert_uint_eq(csum_compute(odd, 3), csum_compute(even, 4));
}
END_TEST

START_TEST(chained_partials_equal_one_pass)
{
    uint8_t d[1000];
    for (int i = 0; i < 1000; i++)
        d[i] = (uint8_t)(i * 7 + 3);
    uint32_t sum = csum_partial(d, 400, 0);
    sum = csum_partial(d + 400, 600, sum);
    ck_assert_uint_eq(csum_fold(sum), csum_compute(d, 1000));
}
END_TEST

START_TEST(incremental_update_matches_recompute)
{
    uint8_t h[20];
    memcpy(h, ip_header, 20);
    uint16_t check = csum_compute(h, 20);
    /* Decrement the TTL (byte 8) as a router would: word 8-9 changes. */
    uint16_t old_word = (uint16_t)((h[8] << 8) | h[9]);
    h[8]--;
    uint16_t new_word = (uint16_t)((h[8] << 8) | h[9]);
    ck_assert_uint_eq(csum_update16(check, old_word, new_word), csum_compute(h, 20));
    /* And a 32-bit field (the source address). */
    check = csum_compute(h, 20);
    uint32_t old32 = 0xc0a80001u, new32 = 0x0a000002u;
    h[12] = 10; h[13] = 0; h[14] = 0; h[15] = 2;
    ck_assert_uint_eq(csum_update32(check, old32, new32), csum_compute(h, 20));
}
END_TEST

START_TEST(pseudo_header_sum)
{
    /* 10.0.0.1 -> 10.0.0.2, TCP, 20 bytes: 0x0a00+0x0001+0x0a00+0x0002+6+20 */
    ck_assert_uint_eq(csum_pseudo_ipv4(0x0a000001, 0x0a000002, 6, 20),
                      0x0a00 + 0x0001 + 0x0a00 + 0x0002 + 6 + 20);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("checksum");
    TCase *tc = tcase_create("rfc1071");
    tcase_add_test(tc, known_ipv4_header_vector);
    tcase_add_test(tc, header_with_its_checksum_sums_to_zero);
    tcase_add_test(tc, rfc1071_example_bytes);
    tcase_add_test(tc, odd_length_pads_with_zero);
    tcase_add_test(tc, chained_partials_equal_one_pass);
    tcase_add_test(tc, incremental_update_matches_recompute);
    tcase_add_test(tc, pseudo_header_sum);
    suite_add_tcase(s, tc);
    return harness_run(s);
}
