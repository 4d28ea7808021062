#include "net_peer.h"

#include <stdlib.h>
#include <string.h>

#include "core/checksum.h"
#include "core/wire.h"
#include "net_frames.h"

static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
static const uint8_t zero6[6];

void net_peer_init(struct net_peer *p, const char *ip, const uint8_t mac[6])
{
    memset(p, 0, sizeof *p);
    p->ip = net_ip(ip);
    memcpy(p->mac, mac, 6);
    p->mtu = 1500;
    p->answer_arp = true;
}

static void send_frame(struct tapir_dev *dev, const uint8_t *f, size_t n)
{
    /* Pad to the Ethernet minimum as a NIC would. */
    uint8_t padded[64];
    if (n < 60) {
        memset(padded, 0, sizeof padded);
        memcpy(padded, f, n);
        f = padded;
        n = 60;
    }
    tapir_dev_send(dev, f, n);
}

void net_peer_send_arp_request(struct net_peer *p, struct tapir_dev *dev, uint32_t target_ip)
{
    uint8_t arp[28], f[64];
    net_arp_build(arp, 1, p->mac, p->ip, zero6, target_ip);
    send_frame(dev, f, net_ether_wrap(f, bcast, p->mac, 0x0806, arp, sizeof arp));
}

static void on_arp(struct net_peer *p, struct tapir_dev *dev, const uint8_t *a, size_t len)
{
    if (len < 28) {
        p->other_rx++;
        return;
    }
    uint16_t op = get_be16(a + 6);
    uint32_t tpa = get_be32(a + 24);
    if (op == 1 && tpa == p->ip) {
        p->arp_requests_rx++;
        if (p->answer_arp) {
            uint8_t arp[28], f[64];
            net_arp_build(arp, 2, p->mac, p->ip, a + 8, get_be32(a + 14));
            send_frame(dev, f, net_ether_wrap(f, a + 8, p->mac, 0x0806, arp, sizeof arp));
        }
    } else if (op == 2 && tpa == p->ip) {
        p->arp_replies_rx++;
        memcpy(p->stack_mac, a + 8, 6);
        p->knows_stack_mac = true;
    } else {
        p->other_rx++;
    }
}

/* A reply may answer an earlier request than the last (it waited for ARP),
 * so its data is checked against the pattern of its own sequence number. */
static void check_reply(struct net_peer *p, const uint8_t *icmp, size_t len)
{
    if (csum_compute(icmp, len) != 0 || len != p->sent_len || icmp[0] != 0 ||
        get_be16(icmp + 4) != get_be16(p->sent + 4)) {
        p->bad_rx++;
        return;
    }
    uint16_t seq = get_be16(icmp + 6);
    for (size_t i = 0; i + 8 < len; i++) {
        if (icmp[8 + i] != (uint8_t)(i * 31 + seq)) {
            p->bad_rx++;
            return;
        }
    }
    p->echo_replies_ok++;
}

static void on_ipv4(struct net_peer *p, const uint8_t *ip, size_t len)
{
    if (len < 20 || csum_compute(ip, (size_t)(ip[0] & 0x0f) * 4) != 0) {
        p->bad_rx++;
        return;
    }
    size_t ihl = (size_t)(ip[0] & 0x0f) * 4, total = get_be16(ip + 2);
    if (total > len || total < ihl || ip[9] != 1) {
        p->other_rx++;
        return;
    }
    uint16_t frag = get_be16(ip + 6);
    size_t off = (size_t)(frag & 0x1fff) * 8, plen = total - ihl;
    bool mf = (frag & 0x2000) != 0;
    if (off == 0 && !mf) {
        check_reply(p, ip + ihl, plen);
        return;
    }
    uint16_t id = get_be16(ip + 4);
    if (id != p->rid) {
        memset(p->rmap, 0, sizeof p->rmap);
        p->rhave_last = false;
        p->rid = id;
    }
    if (off + plen > sizeof p->rbuf) {
        p->bad_rx++;
        return;
    }
    memcpy(p->rbuf + off, ip + ihl, plen);
    for (size_t b = off / 8; b * 8 < off + plen; b++)
        p->rmap[b / 8] |= (uint8_t)(1u << (b % 8));
    if (!mf) {
        p->rhave_last = true;
        p->rend = off + plen;
    }
    if (!p->rhave_last)
        return;
    for (size_t b = 0; b * 8 < p->rend; b++)
        if (!((p->rmap[b / 8] >> (b % 8)) & 1))
            return;
    check_reply(p, p->rbuf, p->rend);
    memset(p->rmap, 0, sizeof p->rmap);
    p->rhave_last = false;
    p->rid = (uint16_t)(p->rid + 1);
}

void net_peer_on_frame(void *ctx, struct tapir_dev *dev, const uint8_t *frame, size_t len, tapir_time_t now)
{
    (void)now;
    struct net_peer *p = ctx;
    p->frames_rx++;
    if (len < 14) {
        p->other_rx++;
        return;
    }
    uint16_t type = get_be16(frame + 12);
    if (type == 0x0806)
        on_arp(p, dev, frame + 14, len - 14);
    else if (type == 0x0800)
        on_ipv4(p, frame + 14, len - 14);
    else
        p->other_rx++;
}

void net_peer_send_echo(struct net_peer *p, struct tapir_dev *dev, uint32_t dst, uint16_t ident,
                        uint16_t seq, size_t dlen)
{
    uint8_t data[65536];
    for (size_t i = 0; i < dlen; i++)
        data[i] = (uint8_t)(i * 31 + seq);
    p->sent_len = net_icmp_echo(p->sent, 8, ident, seq, data, dlen);
    size_t per = ((p->mtu - 20) / 8) * 8;
    uint16_t id = (uint16_t)(0x1000 + seq);
    for (size_t off = 0; off < p->sent_len; off += per) {
        size_t n = p->sent_len - off < per ? p->sent_len - off : per;
        struct net_ip_spec sp;
        net_ipv4_defaults(&sp, p->ip, dst, 1);
        sp.id = id;
        sp.frag_offset = (uint16_t)off;
        sp.mf = off + n < p->sent_len;
        uint8_t ipbuf[1600], f[1700];
        size_t ipn = net_ipv4_build(ipbuf, &sp, p->sent + off, n);
        send_frame(dev, f, net_ether_wrap(f, p->stack_mac, p->mac, 0x0800, ipbuf, ipn));
    }
}
