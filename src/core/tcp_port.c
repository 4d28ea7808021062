/* Local ports: who holds each one, and which one a new connection takes.
 *
 * A port taken by bind() (with port 0 too), by listen() or by a listener's
 * connections belongs to them alone. A port picked at connect() for a
 * socket that was never bound is shared: any other connect() may take it
 * too, as long as its 4-tuple differs, so a client is not limited to one
 * range of ephemeral ports in total (TIME_WAIT entries included) but to one
 * range per destination, as on Linux. The pick follows RFC 6056 Algorithm
 * 4 ("double-hash port selection", 3.3.4): the search for destination D
 * starts at an offset F(local address, D's address and port) and goes on
 * from a counter chosen by G(same), which moves on by one for each port
 * tried. A destination's ports then go round the whole range before one is
 * used again (RFC 6056 3.1: a 4-tuple is not reused soon), while other
 * destinations' sequences start elsewhere and cannot be guessed from it;
 * F and G are SipHash with the stack's secret key (as RFC 6528's ISNs). */
#include <errno.h>
#include <string.h>

#include "core/stack.h"
#include "core/tcp_conn.h"

void tcp_port_ref(struct tcp_conn *c, uint16_t port, bool shared)
{
    struct tcp_state *t = c->s->tcp;
    c->lport = port;
    c->bound = true;
    c->port_shared = shared;
    t->port_refs[port]++;
    if (shared)
        t->port_shared[port]++;
}

void tcp_port_release(struct tapir_stack *s, uint16_t port, bool shared)
{
    struct tcp_state *t = s->tcp;
    if (t->port_refs[port] > 0)
        t->port_refs[port]--;
    if (shared && t->port_shared[port] > 0)
        t->port_shared[port]--;
}

void tcp_port_unref(struct tcp_conn *c)
{
    if (!c->bound)
        return;
    tcp_port_release(c->s, c->lport, c->port_shared);
    c->bound = false;
    c->port_shared = false;
}

bool tcp_port_in_use(struct tapir_stack *s, uint16_t port)
{
    return s->tcp->port_refs[port] != 0;
}

/* An ephemeral port nobody holds (TIME_WAIT included), for bind() with port
 * 0 or a listen() without bind(): the search starts at a random point of
 * the range (RFC 6056 3.3.1, "simple port randomization"). */
int tcp_port_ephemeral(struct tapir_stack *s, uint16_t *port)
{
    const uint32_t n = TCP_EPHEMERAL_HI - TCP_EPHEMERAL_LO + 1;
    uint32_t start = (uint32_t)(stack_random(s) % n);
    for (uint32_t i = 0; i < n; i++) {
        uint16_t p = (uint16_t)(TCP_EPHEMERAL_LO + (start + i) % n);
        if (!tcp_port_in_use(s, p)) {
            *port = p;
            return 0;
        }
    }
    return -EADDRNOTAVAIL;
}

/* F (which = 'F') and G (which = 'G') of RFC 6056 3.3.4: keyed hashes of
 * the local address and the remote socket, separated by their last byte
 * from each other and from the ISN's and the timestamps' inputs. */
static uint32_t port_hash(const struct tcp_state *t, uint32_t lip, uint32_t rip, uint16_t rport,
                          uint8_t which)
{
    uint8_t m[11];
    const uint32_t a[2] = {lip, rip};
    for (int i = 0; i < 2; i++)
        for (int b = 0; b < 4; b++)
            m[4 * i + b] = (uint8_t)(a[i] >> (24 - 8 * b));
    m[8] = (uint8_t)(rport >> 8);
    m[9] = (uint8_t)rport;
    m[10] = which;
    return (uint32_t)tcp_siphash24(t->isn_k0, t->isn_k1, m, sizeof m);
}

/* A port for a connect() to rip:rport from lip by a socket never bound:
 * one that only other connect()s hold (or nobody) and that makes a 4-tuple
 * no connection has (TIME_WAIT included). -EADDRNOTAVAIL, as Linux, when
 * every port of the range is taken for this destination. */
int tcp_port_for_connect(struct tapir_stack *s, uint32_t lip, uint32_t rip, uint16_t rport,
                         uint16_t *port)
{
    struct tcp_state *t = s->tcp;
    const uint32_t n = TCP_EPHEMERAL_HI - TCP_EPHEMERAL_LO + 1;
    uint32_t offset = port_hash(t, lip, rip, rport, 'F');
    uint16_t *next = &t->port_perturb[port_hash(t, lip, rip, rport, 'G') % TCP_PORT_PERTURB];
    for (uint32_t i = 0; i < n; i++) {
        uint16_t p = (uint16_t)(TCP_EPHEMERAL_LO + (offset + *next) % n);
        (*next)++;
        if (t->port_refs[p] == t->port_shared[p] && !tcp_tuple_in_use(s, lip, p, rip, rport)) {
            *port = p;
            return 0;
        }
    }
    return -EADDRNOTAVAIL;
}
