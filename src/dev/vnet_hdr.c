/* virtio-net header parse/build (see vnet_hdr.h). */
#include "dev/vnet_hdr.h"

#include <errno.h>
#include <string.h>

static uint16_t get_le16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static void put_le16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

int vnet_hdr_parse(const uint8_t *hdr, size_t frame_len, struct tapir_frame_meta *meta)
{
    memset(meta, 0, sizeof *meta);
    uint8_t flags = hdr[0];
    uint8_t gso_type = hdr[1];
    if (gso_type != VNET_GSO_NONE && gso_type != VNET_GSO_TCPV4)
        return -EPROTO;
    meta->gso_type = gso_type == VNET_GSO_TCPV4 ? TAPIR_GSO_TCPV4 : TAPIR_GSO_NONE;
    meta->gso_size = gso_type == VNET_GSO_NONE ? 0 : get_le16(hdr + 4);
    if (flags & VNET_F_NEEDS_CSUM) {
        meta->csum_partial = true;
        meta->csum_start = get_le16(hdr + 6);
        meta->csum_offset = get_le16(hdr + 8);
        if ((size_t)meta->csum_start + meta->csum_offset + 2 > frame_len)
            return -EPROTO;
    }
    meta->csum_valid = (flags & VNET_F_DATA_VALID) != 0;
    return 0;
}

void vnet_hdr_build(uint8_t *hdr, const uint8_t *frame, size_t len, const struct tapir_frame_meta *meta)
{
    memset(hdr, 0, VNET_HDR_LEN);
    if (!meta)
        return;
    if (meta->csum_partial) {
        hdr[0] = VNET_F_NEEDS_CSUM;
        put_le16(hdr + 6, meta->csum_start);
        put_le16(hdr + 8, meta->csum_offset);
    }
    if (meta->gso_type == TAPIR_GSO_TCPV4 && meta->gso_size) {
        hdr[1] = VNET_GSO_TCPV4;
        put_le16(hdr + 4, meta->gso_size);
        /* hdr_len: the headers copied onto every segment, up to the end of
         * the TCP header (a hint to the kernel; 0 would also do). */
        size_t hl = 0;
        if (meta->csum_partial && (size_t)meta->csum_start + 13 <= len)
            hl = meta->csum_start + (size_t)(frame[meta->csum_start + 12] >> 4) * 4;
        put_le16(hdr + 2, (uint16_t)(hl <= len ? hl : 0));
    }
}
