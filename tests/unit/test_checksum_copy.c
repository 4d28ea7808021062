/* csum_copy (memcpy + csum_partial in one pass), csum_add_at (chaining an
 * area that starts at an odd offset) and the ring helpers built on them
 * (tcp_ring_read_csum, tcp_ring_place_csum). Every result is checked
 * against memcpy and a byte-wise RFC 1071 reference on random data (fixed
 * seed), and the copies must not write outside their destination. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/checksum.h"
#include "core/tcp_conn.h"
#include "harness.h"

#define GUARD 64
#define GUARD_BYTE 0xa5

/* RFC 1071 section 4.1, word by word in network order, as a partial sum
 * folded to 16 bits (not complemented); odd_start: the first byte is the
 * low half of its word (the area starts at an odd offset of the stream). */
static uint32_t reference_sum(const uint8_t *p, size_t len, bool odd_start)
{
    uint64_t acc = 0;
    for (size_t i = 0; i < len; i++)
        acc += ((i & 1) == (odd_start ? 1u : 0u)) ? (uint32_t)p[i] << 8 : p[i];
    while (acc >> 16)
        acc = (acc & 0xffff) + (acc >> 16);
    return (uint32_t)acc;
}

static uint16_t fold_with(uint32_t sum, uint32_t partial)
{
    uint64_t acc = (uint64_t)sum + partial;
    while (acc >> 16)
        acc = (acc & 0xffff) + (acc >> 16);
    return (uint16_t)~acc;
}

static void fill_random(uint8_t *p, size_t n, unsigned *seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)rand_r(seed);
}

/* dst's guard bytes around [off, off+len) are untouched. */
static void assert_guards(const uint8_t *buf, size_t size, size_t off, size_t len)
{
    /* One assertion per call, not per byte (the loops around it call this
     * tens of thousands of times). */
    size_t bad = size;
    for (size_t i = 0; i < size && bad == size; i++)
        if ((i < off || i >= off + len) && buf[i] != GUARD_BYTE)
            bad = i;
    ck_assert_msg(bad == size, "byte %zu outside [%zu, %zu) written", bad, off, off + len);
}

START_TEST(copy_equals_memcpy_and_csum_partial)
{
    enum { MAXLEN = 300 };
    uint8_t src[MAXLEN + 16], dst[MAXLEN + 16 + 2 * GUARD];
    unsigned seed = 4242;
    static const uint32_t sums[] = { 0, 1, 0xffff, 0x1fffe, 0xfffffff0u };
    for (size_t len = 0; len <= MAXLEN; len++) {
        for (int round = 0; round < 8; round++) {
            /* random offsets; rounds 0-3 cover every parity pair */
            size_t soff = round < 4 ? (size_t)(round & 1) : (size_t)(rand_r(&seed) % 16);
            size_t doff = GUARD + (round < 4 ? (size_t)(round >> 1) : (size_t)(rand_r(&seed) % 16));
            uint32_t sum = sums[(len + (size_t)round) % (sizeof sums / sizeof sums[0])];
            fill_random(src, sizeof src, &seed);
            memset(dst, GUARD_BYTE, sizeof dst);
            uint32_t got = csum_copy(dst + doff, src + soff, len, sum);
            uint32_t want = csum_partial(src + soff, len, sum);
            ck_assert_msg(csum_fold(got) == csum_fold(want), "len %zu soff %zu doff %zu: %04x want %04x",
                          len, soff, doff, csum_fold(got), csum_fold(want));
            ck_assert_uint_eq(csum_fold(got), fold_with(sum, reference_sum(src + soff, len, false)));
            ck_assert_msg(len == 0 || memcmp(dst + doff, src + soff, len) == 0, "len %zu: data differs", len);
            assert_guards(dst, sizeof dst, doff, len);
        }
    }
}
END_TEST

/* Lengths around the bulk loop's block (64) and round (512 KiB)
 * boundaries, with all-ones data (where the lanes fill up fastest) and
 * random data: long copies must not lose a carry. */
START_TEST(copy_long_areas_keep_every_carry)
{
    const size_t round = 8192u * 64u;
    static const size_t extra[] = { 0, 1, 63, 64, 65 };
    const size_t maxlen = 2 * round + 65;
    uint8_t *src = malloc(maxlen + 1);
    uint8_t *dst = malloc(maxlen + 1 + 2 * GUARD);
    ck_assert_ptr_nonnull(src);
    ck_assert_ptr_nonnull(dst);
    unsigned seed = 99;
    for (int ones = 0; ones < 2; ones++) {
        if (ones)
            memset(src, 0xff, maxlen + 1);
        else
            fill_random(src, maxlen + 1, &seed);
        for (size_t r = 1; r <= 2; r++)
            for (size_t e = 0; e < sizeof extra / sizeof extra[0]; e++) {
                size_t len = r * round - 64 + extra[e];
                memset(dst, GUARD_BYTE, maxlen + 1 + 2 * GUARD);
                uint32_t got = csum_copy(dst + GUARD + 1, src + 1, len, 0xffff);
                ck_assert_uint_eq(csum_fold(got), fold_with(0xffff, reference_sum(src + 1, len, false)));
                ck_assert_uint_eq(csum_fold(csum_partial(src + 1, len, 0xffff)), csum_fold(got));
                ck_assert(memcmp(dst + GUARD + 1, src + 1, len) == 0);
                ck_assert_uint_eq(dst[GUARD], GUARD_BYTE);
                ck_assert_uint_eq(dst[GUARD + 1 + len], GUARD_BYTE);
            }
    }
    free(src);
    free(dst);
}
END_TEST

/* One run of data copied as two areas split at every point k, the second
 * added with csum_add_at(sum, area, k): the same as one csum_partial over
 * the run (k odd: RFC 1071 2 (B), the second area's bytes swap halves). */
START_TEST(chained_areas_split_anywhere)
{
    enum { LEN = 300 };
    uint8_t src[LEN], dst[LEN];
    unsigned seed = 7;
    for (size_t len = 0; len <= LEN; len += 7) {
        fill_random(src, sizeof src, &seed);
        uint32_t whole = csum_partial(src, len, 0x1234);
        for (size_t k = 0; k <= len; k++) {
            memset(dst, 0, sizeof dst);
            uint32_t s = csum_copy(dst, src, k, 0x1234);
            s = csum_add_at(s, csum_copy(dst + k, src + k, len - k, 0), k);
            ck_assert_msg(csum_fold(s) == csum_fold(whole), "len %zu split %zu: %04x want %04x",
                          len, k, csum_fold(s), csum_fold(whole));
            ck_assert(len == 0 || memcmp(dst, src, len) == 0);
        }
        /* Three areas, the middle one of odd length. */
        if (len >= 10) {
            uint32_t s = csum_copy(dst, src, 4, 0x1234);
            s = csum_add_at(s, csum_copy(dst + 4, src + 4, 5, 0), 4);
            s = csum_add_at(s, csum_copy(dst + 9, src + 9, len - 9, 0), 9);
            ck_assert_uint_eq(csum_fold(s), csum_fold(whole));
        }
    }
    /* The reference agrees that an odd start swaps the halves. */
    ck_assert_uint_eq(csum_add_at(0, reference_sum(src, 5, false), 1), reference_sum(src, 5, true));
}
END_TEST

/* A ring of capacity cap whose logical byte 0 sits at storage index head. */
static void ring_setup(struct tcp_ring *r, uint8_t *mem, uint32_t cap, uint32_t head, uint32_t len)
{
    memset(r, 0, sizeof *r);
    r->mem = mem;
    r->cap = cap;
    r->head = head;
    r->len = len;
}

/* mem[at..at+n) (wrapping at cap) holds want[0..n). */
static bool ring_holds(const uint8_t *mem, uint32_t cap, uint32_t at, const uint8_t *want, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        if (mem[(at + i) % cap] != want[i])
            return false;
    return true;
}

/* Reading out of the ring with the sum: every start and length, so the
 * wrap falls at odd and even positions; the frame gets exactly the bytes
 * and the sum is that of the copied bytes. */
START_TEST(ring_read_csum_wraps_at_any_offset)
{
    enum { CAP = 97 };
    uint8_t mem[CAP], frame[CAP + 2 * GUARD];
    unsigned seed = 11;
    fill_random(mem, sizeof mem, &seed);
    for (uint32_t head = 0; head < CAP; head++) {
        struct tcp_ring r;
        ring_setup(&r, mem, CAP, head, CAP);
        for (uint32_t off = 0; off < CAP; off += 5)
            for (uint32_t n = 0; n <= CAP - off; n += 3) {
                memset(frame, GUARD_BYTE, sizeof frame);
                uint32_t got = tcp_ring_read_csum(&r, off, frame + GUARD, n);
                ck_assert_uint_eq(csum_fold(got), fold_with(0, reference_sum(frame + GUARD, n, false)));
                uint32_t wrong = n;
                for (uint32_t i = 0; i < n && wrong == n; i++)
                    if (frame[GUARD + i] != mem[(head + off + i) % CAP])
                        wrong = i;
                ck_assert_msg(wrong == n, "head %u off %u n %u: byte %u wrong", head, off, n, wrong);
                assert_guards(frame, sizeof frame, GUARD, n);
            }
    }
}
END_TEST

/* Placing data in the free space: summed, copied (wrapping), len
 * unchanged, the committed bytes untouched; a tcp_ring_write of the same
 * source and offset finds it in place, one of another source copies, and
 * tcp_ring_place_forget / tcp_ring_consume end the match. No room: nothing
 * is written. */
START_TEST(ring_place_csum_leaves_committed_bytes)
{
    enum { CAP = 64 };
    uint8_t mem[CAP], before[CAP], data[40], other[40];
    unsigned seed = 3;
    fill_random(data, sizeof data, &seed);
    fill_random(other, sizeof other, &seed);
    for (uint32_t head = 0; head < CAP; head++)
        for (uint32_t len = 0; len <= CAP; len += 3) {
            fill_random(mem, sizeof mem, &seed);
            memcpy(before, mem, sizeof mem);
            struct tcp_ring r;
            ring_setup(&r, mem, CAP, head, len);
            uint32_t n = (head + len) % 37 + 1;
            uint32_t sum = 0;
            int rc = tcp_ring_place_csum(&r, data, n, &sum);
            if (n > CAP - len) {
                ck_assert_int_lt(rc, 0);
                ck_assert(memcmp(mem, before, sizeof mem) == 0);
                continue;
            }
            ck_assert_int_eq(rc, 0);
            ck_assert_uint_eq(r.len, len);
            ck_assert_uint_eq(csum_fold(sum), fold_with(0, reference_sum(data, n, false)));
            uint8_t want[CAP];
            for (uint32_t i = 0; i < CAP; i++) {
                uint32_t logical = (i + CAP - head) % CAP;
                want[i] = logical >= len && logical < len + n ? data[logical - len] : before[i];
            }
            ck_assert_msg(memcmp(mem, want, CAP) == 0, "head %u len %u: placed bytes wrong", head, len);
            /* Whether a write was skipped shows only when other bytes were
             * written in between: a write of another source copies... */
            tcp_ring_write(&r, len, other, n);
            ck_assert(ring_holds(mem, CAP, head + len, other, n));
            /* ...while the placed source at the placed offset is taken as
             * already there (so tcp_input must forget placements)... */
            tcp_ring_write(&r, len, data, n);
            ck_assert_uint_eq(mem[(head + len) % CAP], other[0]);
            /* ...until the placement is forgotten. */
            tcp_ring_place_forget(&r);
            tcp_ring_write(&r, len, data, n);
            ck_assert(ring_holds(mem, CAP, head + len, data, n));
        }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("checksum_copy");
    TCase *t = tcase_create("copy");
    tcase_set_timeout(t, 60);
    tcase_add_test(t, copy_equals_memcpy_and_csum_partial);
    tcase_add_test(t, copy_long_areas_keep_every_carry);
    tcase_add_test(t, chained_areas_split_anywhere);
    tcase_add_test(t, ring_read_csum_wraps_at_any_offset);
    tcase_add_test(t, ring_place_csum_leaves_committed_bytes);
    suite_add_tcase(s, t);
    return harness_run(s);
}
