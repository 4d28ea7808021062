/* A device decorator that records every frame in and out as a classic pcap
 * file (the libpcap format: a 24-byte global header, then a 16-byte record
 * header before each frame), readable by tcpdump -r and Wireshark.
 *
 * Frames are written as they pass, so the order in the file is the order the
 * stack saw them. Each record is flushed at once: a pcap is a debugging aid,
 * and it must be complete even if the program is killed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tapir/tapir.h"

#define PCAP_MAGIC_USEC 0xa1b2c3d4u
#define PCAP_VERSION_MAJOR 2
#define PCAP_VERSION_MINOR 4
#define PCAP_SNAPLEN 65535u
#define PCAP_LINKTYPE_ETHERNET 1u
#define PCAP_LINKTYPE_RAW 101u      /* bare IPv4/IPv6, for TUN links */

struct pcap_dev {
    struct tapir_dev dev;       /* first member: the decorator is a device */
    struct tapir_dev *inner;
    FILE *file;
};

/* pcap headers are written in the writer's byte order; the magic number lets
 * readers detect it. Build them byte by byte in host order with memcpy. */
static void put_u32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put_u16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }

static int write_global_header(FILE *f, uint32_t linktype)
{
    uint8_t h[24];
    put_u32(h, PCAP_MAGIC_USEC);
    put_u16(h + 4, PCAP_VERSION_MAJOR);
    put_u16(h + 6, PCAP_VERSION_MINOR);
    put_u32(h + 8, 0);              /* thiszone: timestamps are UTC */
    put_u32(h + 12, 0);             /* sigfigs */
    put_u32(h + 16, PCAP_SNAPLEN);
    put_u32(h + 20, linktype);
    if (fwrite(h, sizeof h, 1, f) != 1 || fflush(f) != 0)
        return -EIO;
    return 0;
}

static void record_frame(struct pcap_dev *p, const uint8_t *frame, size_t len)
{
    if (!p->file)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    size_t caplen = len > PCAP_SNAPLEN ? PCAP_SNAPLEN : len;
    uint8_t h[16];
    put_u32(h, (uint32_t)ts.tv_sec);
    put_u32(h + 4, (uint32_t)(ts.tv_nsec / 1000));
    put_u32(h + 8, (uint32_t)caplen);
    put_u32(h + 12, (uint32_t)len);
    if (fwrite(h, sizeof h, 1, p->file) != 1 ||
        (caplen && fwrite(frame, caplen, 1, p->file) != 1) || fflush(p->file) != 0) {
        /* A broken capture must not break the link: stop recording. */
        fclose(p->file);
        p->file = NULL;
    }
}

static int pcap_send(struct tapir_dev *d, const uint8_t *frame, size_t len)
{
    struct pcap_dev *p = (struct pcap_dev *)d;
    int rc = tapir_dev_send(p->inner, frame, len);
    if (rc == 0)
        record_frame(p, frame, len);    /* only what really left */
    return rc;
}

static long pcap_recv(struct tapir_dev *d, uint8_t *buf, size_t cap)
{
    struct pcap_dev *p = (struct pcap_dev *)d;
    long n = tapir_dev_recv(p->inner, buf, cap);
    if (n >= 0)
        record_frame(p, buf, (size_t)n);
    return n;
}

/* With metadata: the capture holds the frame only (no virtio header); a
 * TSO frame is recorded as the one large frame it is, with the checksum
 * left partial, as tcpdump on the interface would show it. */
static int pcap_send_meta(struct tapir_dev *d, const uint8_t *frame, size_t len,
                          const struct tapir_frame_meta *meta)
{
    struct pcap_dev *p = (struct pcap_dev *)d;
    int rc = p->inner->meta_ops ? p->inner->meta_ops->send_meta(p->inner, frame, len, meta)
                                : tapir_dev_send(p->inner, frame, len);
    if (rc == 0)
        record_frame(p, frame, len);
    return rc;
}

static long pcap_recv_meta(struct tapir_dev *d, uint8_t *buf, size_t cap, struct tapir_frame_meta *meta)
{
    struct pcap_dev *p = (struct pcap_dev *)d;
    long n;
    if (p->inner->meta_ops) {
        n = p->inner->meta_ops->recv_meta(p->inner, buf, cap, meta);
    } else {
        n = tapir_dev_recv(p->inner, buf, cap);
        if (meta)
            memset(meta, 0, sizeof *meta);
    }
    if (n >= 0)
        record_frame(p, buf, (size_t)n);
    return n;
}

static void pcap_destroy(struct tapir_dev *d)
{
    struct pcap_dev *p = (struct pcap_dev *)d;
    if (p->file)
        fclose(p->file);
    tapir_dev_destroy(p->inner);
    free(p);
}

static const struct tapir_dev_ops pcap_ops = {
    .send = pcap_send,
    .recv = pcap_recv,
    .destroy = pcap_destroy,
};

static const struct tapir_dev_meta_ops pcap_meta_ops = {
    .send_meta = pcap_send_meta,
    .recv_meta = pcap_recv_meta,
};

int tapir_pcap_wrap(struct tapir_dev *inner, const char *path, struct tapir_dev **out)
{
    if (out)
        *out = NULL;
    if (!inner || !path || !out)
        return -EINVAL;
    struct pcap_dev *p = calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    p->file = fopen(path, "wbe");
    if (!p->file) {
        int e = errno;
        free(p);
        return -e;
    }
    uint32_t linktype = inner->link == TAPIR_LINK_IP ? PCAP_LINKTYPE_RAW : PCAP_LINKTYPE_ETHERNET;
    int rc = write_global_header(p->file, linktype);
    if (rc < 0) {
        fclose(p->file);
        free(p);
        return rc;
    }
    p->inner = inner;
    p->dev = *inner;            /* link, fd, mtu, mac and name pass through */
    p->dev.ops = &pcap_ops;
    p->dev.meta_ops = inner->meta_ops ? &pcap_meta_ops : NULL;
    /* Records of frames sent and received go to one file, each in two
     * writes: a writer thread must not send while the stack receives. */
    p->dev.concurrent_send = false;
    *out = &p->dev;
    return 0;
}
