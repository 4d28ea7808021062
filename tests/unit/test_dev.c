/* Devices without root: tapir_tap_open's argument errors (refused before the
 * kernel is asked) and the pcap decorator's file format. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tapir/tapir.h"
#include "harness.h"

START_TEST(tap_name_too_long_is_refused_with_a_sentence)
{
    struct tapir_dev *dev = (struct tapir_dev *)0x1;
    char err[256] = "";
    /* IFNAMSIZ is 16: 15 characters at most. */
    int rc = tapir_tap_open("a-name-that-is-far-too-long", &dev, err, sizeof err);
    ck_assert_int_eq(rc, -ENAMETOOLONG);
    ck_assert_ptr_null(dev);
    ck_assert_msg(strstr(err, "too long") != NULL, "message: %s", err);
    ck_assert_msg(strstr(err, "a-name-that-is-far-too-long") != NULL, "message: %s", err);
}
END_TEST

START_TEST(tap_name_of_exactly_ifnamsiz_is_too_long)
{
    struct tapir_dev *dev;
    char err[256] = "";
    ck_assert_int_eq(tapir_tap_open("0123456789abcdef", &dev, err, sizeof err), -ENAMETOOLONG);
    ck_assert_int_eq(tapir_tun_open("0123456789abcdef", &dev, err, sizeof err), -ENAMETOOLONG);
    ck_assert_msg(strstr(err, "TUN") != NULL, "message: %s", err);
}
END_TEST

START_TEST(tap_empty_name_is_invalid)
{
    struct tapir_dev *dev;
    char err[256] = "";
    ck_assert_int_eq(tapir_tap_open("", &dev, err, sizeof err), -EINVAL);
    ck_assert_int_ne(err[0], '\0');
    /* No error buffer at all is allowed. */
    ck_assert_int_eq(tapir_tap_open("", &dev, NULL, 0), -EINVAL);
}
END_TEST

/* ---- a fake device over a datagram socketpair --------------------------- */

struct fake_dev {
    struct tapir_dev dev;
    int peer;           /* the other end: what we "receive" is written here */
    int destroyed;
};

static int fake_send(struct tapir_dev *d, const uint8_t *f, size_t n)
{
    return send(d->fd, f, n, MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t)n ? 0 : -EIO;
}

static long fake_recv(struct tapir_dev *d, uint8_t *b, size_t cap)
{
    ssize_t n = recv(d->fd, b, cap, MSG_DONTWAIT);
    return n < 0 ? -errno : (long)n;
}

static int fake_destroyed_count;

static void fake_destroy(struct tapir_dev *d)
{
    struct fake_dev *f = (struct fake_dev *)d;
    close(f->dev.fd);
    close(f->peer);
    fake_destroyed_count++;
    free(f);
}

static const struct tapir_dev_ops fake_ops = {fake_send, fake_recv, fake_destroy};

static struct fake_dev *fake_new(enum tapir_link_type link)
{
    struct fake_dev *f = calloc(1, sizeof *f);
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
    f->dev.ops = &fake_ops;
    f->dev.link = link;
    f->dev.fd = sv[0];
    f->peer = sv[1];
    f->dev.mtu = 1500;
    snprintf(f->dev.name, sizeof f->dev.name, "fake0");
    return f;
}

static uint32_t get_u32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint16_t get_u16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }

static size_t read_file(const char *path, uint8_t *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    size_t n = fread(buf, 1, cap, f);
    fclose(f);
    return n;
}

static void check_pcap_linktype(enum tapir_link_type link, uint32_t want_linktype)
{
    char path[] = "/tmp/tapir-test-pcap-XXXXXX";
    int tmpfd = mkstemp(path);
    ck_assert_int_ge(tmpfd, 0);
    close(tmpfd);

    struct fake_dev *f = fake_new(link);
    int peer = f->peer;
    struct tapir_dev *dev;
    fake_destroyed_count = 0;
    f->dev.concurrent_send = true;
    ck_assert_int_eq(tapir_pcap_wrap(&f->dev, path, &dev), 0);
    ck_assert_int_eq(dev->fd, f->dev.fd);       /* fd, link and mtu pass through */
    ck_assert_int_eq(dev->link, link);
    ck_assert_uint_eq(dev->mtu, 1500);
    /* ... but not concurrent sends: both directions write one file. */
    ck_assert(!dev->concurrent_send);

    const uint8_t out_frame[60] = {1, 2, 3, 4, 5, 6};
    const uint8_t in_frame[42] = {9, 8, 7};
    ck_assert_int_eq(tapir_dev_send(dev, out_frame, sizeof out_frame), 0);
    ck_assert_int_eq(send(peer, in_frame, sizeof in_frame, 0), (ssize_t)sizeof in_frame);
    uint8_t rx[2048];
    ck_assert_int_eq(tapir_dev_recv(dev, rx, sizeof rx), (long)sizeof in_frame);
    ck_assert_int_eq(tapir_dev_recv(dev, rx, sizeof rx), -EAGAIN);   /* nothing recorded */

    /* Readable before the device is closed: every record is flushed. */
    uint8_t file[4096];
    size_t n = read_file(path, file, sizeof file);
    ck_assert_uint_eq(n, 24 + 16 + sizeof out_frame + 16 + sizeof in_frame);
    ck_assert_uint_eq(get_u32(file), 0xa1b2c3d4u);
    ck_assert_uint_eq(get_u16(file + 4), 2);
    ck_assert_uint_eq(get_u16(file + 6), 4);
    ck_assert_uint_eq(get_u32(file + 16), 65535);
    ck_assert_uint_eq(get_u32(file + 20), want_linktype);
    const uint8_t *r1 = file + 24;
    ck_assert_uint_eq(get_u32(r1 + 8), sizeof out_frame);   /* caplen */
    ck_assert_uint_eq(get_u32(r1 + 12), sizeof out_frame);  /* len */
    ck_assert_uint_lt(get_u32(r1 + 4), 1000000);            /* microseconds */
    ck_assert_mem_eq(r1 + 16, out_frame, sizeof out_frame);
    const uint8_t *r2 = r1 + 16 + sizeof out_frame;
    ck_assert_uint_eq(get_u32(r2 + 8), sizeof in_frame);
    ck_assert_mem_eq(r2 + 16, in_frame, sizeof in_frame);
    ck_assert_uint_ge(get_u32(r2), get_u32(r1));            /* time goes forward */

    tapir_dev_destroy(dev);
    ck_assert_int_eq(fake_destroyed_count, 1);              /* inner destroyed with it */
    unlink(path);
}

START_TEST(pcap_records_ethernet_frames_both_ways)
{
    check_pcap_linktype(TAPIR_LINK_ETHERNET, 1);
}
END_TEST

START_TEST(pcap_uses_linktype_raw_on_ip_links)
{
    check_pcap_linktype(TAPIR_LINK_IP, 101);
}
END_TEST

START_TEST(pcap_unwritable_path_fails_and_leaves_inner_to_caller)
{
    struct fake_dev *f = fake_new(TAPIR_LINK_ETHERNET);
    struct tapir_dev *dev = (struct tapir_dev *)0x1;
    fake_destroyed_count = 0;
    ck_assert_int_lt(tapir_pcap_wrap(&f->dev, "/nonexistent-dir/x.pcap", &dev), 0);
    ck_assert_ptr_null(dev);
    ck_assert_int_eq(fake_destroyed_count, 0);
    tapir_dev_destroy(&f->dev);
}
END_TEST

START_TEST(pcap_failed_send_is_not_recorded)
{
    char path[] = "/tmp/tapir-test-pcap-XXXXXX";
    int tmpfd = mkstemp(path);
    close(tmpfd);
    struct fake_dev *f = fake_new(TAPIR_LINK_ETHERNET);
    struct tapir_dev *dev;
    ck_assert_int_eq(tapir_pcap_wrap(&f->dev, path, &dev), 0);
    close(f->peer);
    f->peer = open("/dev/null", O_RDONLY);      /* keep destroy's close valid */
    const uint8_t frame[60] = {0};
    ck_assert_int_lt(tapir_dev_send(dev, frame, sizeof frame), 0);
    uint8_t file[256];
    ck_assert_uint_eq(read_file(path, file, sizeof file), 24);
    tapir_dev_destroy(dev);
    unlink(path);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("dev");
    TCase *tap = tcase_create("tap_open");
    tcase_add_test(tap, tap_name_too_long_is_refused_with_a_sentence);
    tcase_add_test(tap, tap_name_of_exactly_ifnamsiz_is_too_long);
    tcase_add_test(tap, tap_empty_name_is_invalid);
    suite_add_tcase(s, tap);
    TCase *pcap = tcase_create("pcap");
    tcase_add_test(pcap, pcap_records_ethernet_frames_both_ways);
    tcase_add_test(pcap, pcap_uses_linktype_raw_on_ip_links);
    tcase_add_test(pcap, pcap_unwritable_path_fails_and_leaves_inner_to_caller);
    tcase_add_test(pcap, pcap_failed_send_is_not_recorded);
    suite_add_tcase(s, pcap);
    return harness_run(s);
}
