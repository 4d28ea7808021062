/* The virtio-net header (struct virtio_net_hdr, 10 bytes; virtio spec
 * 5.1.6 "Device Operation", Linux include/uapi/linux/virtio_net.h) that a
 * TAP device opened with IFF_VNET_HDR puts in front of every frame.
 *
 * We use the 10-byte legacy layout (TUNSETVNETHDRSZ 10), not the 12-byte
 * mergeable one: its num_buffers field means nothing on TAP. Fields are
 * little-endian (the kernel's native order for a legacy header; tapir
 * builds for little-endian Linux hosts, and writes them explicitly LE).
 */
#ifndef TAPIR_DEV_VNET_HDR_H
#define TAPIR_DEV_VNET_HDR_H

#include <stddef.h>
#include <stdint.h>

#include "tapir/tapir.h"

#define VNET_HDR_LEN 10
#define VNET_F_NEEDS_CSUM 1u    /* VIRTIO_NET_HDR_F_NEEDS_CSUM */
#define VNET_F_DATA_VALID 2u    /* VIRTIO_NET_HDR_F_DATA_VALID */
#define VNET_GSO_NONE 0u
#define VNET_GSO_TCPV4 1u
#define VNET_GSO_ECN 0x80u

/* Parse hdr (VNET_HDR_LEN bytes) of a frame of frame_len bytes into meta.
 * 0, or -EPROTO for what we did not ask the kernel for (a GSO type other
 * than TCPv4, ECN) or a checksum position outside the frame. */
int vnet_hdr_parse(const uint8_t *hdr, size_t frame_len, struct tapir_frame_meta *meta);
/* Build the header for frame (len bytes) from meta (NULL: no offload). */
void vnet_hdr_build(uint8_t *hdr, const uint8_t *frame, size_t len, const struct tapir_frame_meta *meta);

#endif
