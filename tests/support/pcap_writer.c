/* pcap file format: a 24-byte global header, then per frame a 16-byte record
 * header (seconds, microseconds, captured length, original length) followed
 * by the bytes. Written in host byte order with the magic 0xa1b2c3d4, which
 * readers use to detect the order. */
#include "pcap_writer.h"

#include <stdio.h>
#include <stdlib.h>

struct pcap_writer {
    FILE *f;
};

static void put32(FILE *f, uint32_t v) { fwrite(&v, sizeof v, 1, f); }
static void put16(FILE *f, uint16_t v) { fwrite(&v, sizeof v, 1, f); }

struct pcap_writer *pcap_writer_open(const char *path, uint32_t linktype)
{
    struct pcap_writer *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->f = fopen(path, "wb");
    if (!w->f) {
        free(w);
        return NULL;
    }
    put32(w->f, 0xa1b2c3d4u);   /* magic, microsecond timestamps */
    put16(w->f, 2);             /* version 2.4 */
    put16(w->f, 4);
    put32(w->f, 0);             /* thiszone */
    put32(w->f, 0);             /* sigfigs */
    put32(w->f, 65535);         /* snaplen */
    put32(w->f, linktype);
    return w;
}

void pcap_writer_frame(struct pcap_writer *w, tapir_time_t when, const uint8_t *frame, size_t len)
{
    if (!w)
        return;
    put32(w->f, (uint32_t)(when / 1000000u));
    put32(w->f, (uint32_t)(when % 1000000u));
    put32(w->f, (uint32_t)len);
    put32(w->f, (uint32_t)len);
    fwrite(frame, 1, len, w->f);
}

void pcap_writer_close(struct pcap_writer *w)
{
    if (!w)
        return;
    fclose(w->f);
    free(w);
}
