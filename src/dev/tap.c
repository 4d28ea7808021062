/* Linux TUN/TAP devices (Documentation/networking/tuntap.rst).
 *
 * A TAP device carries Ethernet frames, a TUN device bare IP packets. We open
 * /dev/net/tun and bind the descriptor to the interface NAME with TUNSETIFF:
 * the kernel attaches to a persistent device of that name (made with
 * `ip tuntap add NAME mode tap user U`) or creates a transient one, which
 * needs CAP_NET_ADMIN. IFF_NO_PI: no 4-byte packet-information prefix, so one
 * read() is one frame and one write() sends one frame.
 *
 * The interface's own MAC belongs to the kernel side of the link; the stack
 * is another host on it and gets its own MAC (has_mac stays false).
 *
 * Offloads (tapir_tap_open_opts, offload on): IFF_VNET_HDR puts a 10-byte
 * virtio-net header (dev/vnet_hdr.h) in front of every frame both ways, and
 * TUNSETOFFLOAD(TUN_F_CSUM | TUN_F_TSO4) lets the kernel hand us 64 KiB
 * TCP/IPv4 GSO frames with partial checksums and take ours the same way:
 * one system call moves tens of wire frames.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "dev/vnet_hdr.h"
#include "tapir/tapir.h"

static int tap_send(struct tapir_dev *d, const uint8_t *frame, size_t len)
{
    ssize_t n = write(d->fd, frame, len);
    if (n < 0)
        return errno == EWOULDBLOCK ? -EAGAIN : -errno;   /* full queue: the frame is dropped */
    if ((size_t)n != len)
        return -EIO;
    return 0;
}

static long tap_recv(struct tapir_dev *d, uint8_t *buf, size_t cap)
{
    for (;;) {
        ssize_t n = read(d->fd, buf, cap);
        if (n >= 0)
            return (long)n;
        if (errno == EINTR)
            continue;
        return errno == EWOULDBLOCK ? -EAGAIN : -errno;
    }
}

/* ---- with the virtio-net header (offloads on) ---- */

static int vnet_send_meta(struct tapir_dev *d, const uint8_t *frame, size_t len,
                          const struct tapir_frame_meta *meta)
{
    uint8_t hdr[VNET_HDR_LEN];
    vnet_hdr_build(hdr, frame, len, meta);
    struct iovec iov[2] = {{hdr, sizeof hdr}, {(void *)frame, len}};
    ssize_t n = writev(d->fd, iov, 2);
    if (n < 0)
        return errno == EWOULDBLOCK ? -EAGAIN : -errno;
    if ((size_t)n != len + sizeof hdr)
        return -EIO;
    return 0;
}

static int vnet_send(struct tapir_dev *d, const uint8_t *frame, size_t len)
{
    return vnet_send_meta(d, frame, len, NULL);
}

static long vnet_recv_meta(struct tapir_dev *d, uint8_t *buf, size_t cap, struct tapir_frame_meta *meta)
{
    for (;;) {
        uint8_t hdr[VNET_HDR_LEN];
        struct iovec iov[2] = {{hdr, sizeof hdr}, {buf, cap}};
        ssize_t n = readv(d->fd, iov, 2);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno == EWOULDBLOCK ? -EAGAIN : -errno;
        }
        if ((size_t)n < sizeof hdr)
            continue;           /* no room for even the header: not a frame */
        size_t len = (size_t)n - sizeof hdr;
        struct tapir_frame_meta m;
        if (vnet_hdr_parse(hdr, len, &m) < 0)
            continue;           /* an offload we did not ask for: skip the frame */
        if (meta)
            *meta = m;
        return (long)len;
    }
}

static long vnet_recv(struct tapir_dev *d, uint8_t *buf, size_t cap)
{
    return vnet_recv_meta(d, buf, cap, NULL);
}

static void tap_destroy(struct tapir_dev *d)
{
    if (d->fd >= 0)
        close(d->fd);
    free(d);
}

static const struct tapir_dev_ops tap_ops = {
    .send = tap_send,
    .recv = tap_recv,
    .destroy = tap_destroy,
};

static const struct tapir_dev_ops tap_vnet_ops = {
    .send = vnet_send,
    .recv = vnet_recv,
    .destroy = tap_destroy,
};

static const struct tapir_dev_meta_ops tap_vnet_meta_ops = {
    .send_meta = vnet_send_meta,
    .recv_meta = vnet_recv_meta,
};

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* The interface MTU, asked of the kernel through any AF_INET socket. */
static int read_mtu(const char *ifname, uint32_t *mtu)
{
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return -errno;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    memcpy(ifr.ifr_name, ifname, strnlen(ifname, IFNAMSIZ - 1));
    int rc = ioctl(s, SIOCGIFMTU, &ifr) < 0 ? -errno : 0;
    close(s);
    if (rc == 0 && ifr.ifr_mtu > 0)
        *mtu = (uint32_t)ifr.ifr_mtu;
    return rc;
}

static int tuntap_open(const char *name, short kind, bool offload, struct tapir_dev **out,
                       char *err, size_t errlen)
{
    const char *what = kind == IFF_TAP ? "TAP" : "TUN";
    if (out)
        *out = NULL;
    if (!name || !out || name[0] == '\0') {
        set_err(err, errlen, "%s: a device name is required", what);
        return -EINVAL;
    }
    /* The kernel would silently truncate; refuse before touching it. */
    if (strlen(name) >= IFNAMSIZ) {
        set_err(err, errlen, "%s device name '%s' is too long (at most %d characters)",
                what, name, IFNAMSIZ - 1);
        return -ENAMETOOLONG;
    }

    int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT || e == ENODEV || e == ENXIO)
            set_err(err, errlen, "%s %s: /dev/net/tun is missing: load the tun module "
                    "(modprobe tun) or, in a container, pass the device in", what, name);
        else if (e == EPERM || e == EACCES)
            set_err(err, errlen, "%s %s: cannot open /dev/net/tun (%s): needs CAP_NET_ADMIN "
                    "or a persistent TAP owned by your user: ip tuntap add %s mode %s user $USER "
                    "(and /dev/net/tun usable by you: its usual mode is 0666)",
                    what, name, strerror(e), name, kind == IFF_TAP ? "tap" : "tun");
        else
            set_err(err, errlen, "%s %s: cannot open /dev/net/tun: %s", what, name, strerror(e));
        return -e;
    }

    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = (short)(kind | IFF_NO_PI | (offload ? IFF_VNET_HDR : 0));
    memcpy(ifr.ifr_name, name, strlen(name));
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        int e = errno;
        close(fd);
        if (e == EPERM || e == EACCES)
            set_err(err, errlen, "%s %s: permission denied: needs CAP_NET_ADMIN or a persistent "
                    "%s owned by your user: ip tuntap add %s mode %s user $USER",
                    what, name, what, name, kind == IFF_TAP ? "tap" : "tun");
        else if (e == EBUSY)
            set_err(err, errlen, "%s %s: device busy: another program is attached to it, or "
                    "it exists as a %s", what, name, kind == IFF_TAP ? "TUN" : "TAP");
        else if (e == EINVAL)
            set_err(err, errlen, "%s %s: the kernel refused the device (%s): does an interface "
                    "of that name but another kind exist?", what, name, strerror(e));
        else
            set_err(err, errlen, "%s %s: TUNSETIFF failed: %s", what, name, strerror(e));
        return -e;
    }

    if (!offload && kind == IFF_TAP) {
        /* Offloads set by an earlier user stay on a persistent device: the
         * kernel would keep handing us 64 KiB GSO frames with partial
         * checksums, without the header that says so. Switch them off. */
        (void)ioctl(fd, TUNSETOFFLOAD, 0ul);
    }
    if (offload) {
        int hdrsz = VNET_HDR_LEN;
        unsigned long feat = TUN_F_CSUM | TUN_F_TSO4;
        const char *what_failed = NULL;
        if (ioctl(fd, TUNSETVNETHDRSZ, &hdrsz) < 0)
            what_failed = "TUNSETVNETHDRSZ";
        else if (ioctl(fd, TUNSETOFFLOAD, feat) < 0)
            what_failed = "TUNSETOFFLOAD(CSUM|TSO4)";
        if (what_failed) {
            int e = errno;
            close(fd);
            set_err(err, errlen, "%s %s: %s failed: %s (try without offloads)", what, name,
                    what_failed, strerror(e));
            return -e;
        }
    }

    struct tapir_dev *t = calloc(1, sizeof *t);
    if (!t) {
        close(fd);
        set_err(err, errlen, "%s %s: out of memory", what, name);
        return -ENOMEM;
    }
    t->ops = offload ? &tap_vnet_ops : &tap_ops;
    /* A write and a read of a TAP descriptor are independent calls. */
    t->concurrent_send = true;
    if (offload) {
        t->meta_ops = &tap_vnet_meta_ops;
        t->offloads = TAPIR_OFFLOAD_CSUM | TAPIR_OFFLOAD_TSO4;
        t->max_frame = 65535u + 14u;    /* a 64 KiB IPv4 datagram in an Ethernet frame */
    }
    t->link = kind == IFF_TAP ? TAPIR_LINK_ETHERNET : TAPIR_LINK_IP;
    t->fd = fd;
    t->mtu = 1500;
    t->has_mac = false;
    /* The kernel may have picked the final name (a "%d" pattern). */
    snprintf(t->name, sizeof t->name, "%.*s", IFNAMSIZ - 1, ifr.ifr_name);
    /* Not fatal: a device whose MTU cannot be read keeps the Ethernet default. */
    (void)read_mtu(t->name, &t->mtu);
    *out = t;
    return 0;
}

int tapir_tap_open(const char *name, struct tapir_dev **out, char *err, size_t errlen)
{
    return tuntap_open(name, IFF_TAP, false, out, err, errlen);
}

int tapir_tap_open_opts(const char *name, const struct tapir_tap_opts *opts, struct tapir_dev **out,
                        char *err, size_t errlen)
{
    return tuntap_open(name, IFF_TAP, opts && opts->offload, out, err, errlen);
}

int tapir_tun_open(const char *name, struct tapir_dev **out, char *err, size_t errlen)
{
    return tuntap_open(name, IFF_TUN, false, out, err, errlen);
}
