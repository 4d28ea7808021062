/* Urgent data (RFC 9293 3.8.5, 3.10.7.4 "sixth, check the URG bit"):
 * the core's hooks, implemented in tcp_urgent.c. The calls the socket layer
 * makes (send/recv with MSG_OOB, SO_OOBINLINE, SIOCATMARK, SIOCINQ,
 * SIOCOUTQ) are declared in tcp_api.h.
 *
 * Interpretation, as Linux and the BSDs (RFC 9293 3.8.5 notes the
 * discrepancy): the urgent pointer of a segment points at the octet AFTER
 * the urgent data, so the urgent byte is SEG.SEQ + SEG.UP - 1. Only one
 * urgent byte is held at a time: a newer urgent pointer replaces the
 * older one, whose byte then reads as ordinary data (Linux does the same).
 *
 * Sending (MUST-30, MUST-31, MUST-62): send(MSG_OOB) sets SND.UP to the
 * sequence number after its last byte; every segment sent before SND.UP
 * carries URG and SEG.UP = SND.UP - SEG.SEQ until SND.UNA reaches SND.UP.
 *
 * Receiving (MUST-32, MUST-33): an URG segment records RCV.UP ("urgent data
 * announced"); when the urgent byte arrives in order it is held aside
 * (without SO_OOBINLINE ordinary reads skip it; with it the byte stays in
 * the stream), reads stop at the mark, and the socket reports POLLPRI
 * until it is read with MSG_OOB or read past.
 *
 * The urgent byte is never copied out of the receive ring: it stays where
 * it arrived and reads step over it, so SO_OOBINLINE can change at any
 * time and the window accounting is unchanged.
 *
 * Edges. SEG.UP counts from SEG.SEQ as received: on a segment with SYN
 * that is the SYN's own number, one before the first data byte (a SYN,ACK
 * in SYN-SENT continues at step 6, 3.10.7.3; a simultaneous open's
 * SYN,ACK in SYN-RECEIVED, 3.10.7.4). URG on a bare SYN is not kept, like
 * its text, which is not acknowledged and comes again. A pointer that
 * names the FIN's place or lies past it names no data byte: the
 * announcement stays (TCP_URG_NOTYET) and never becomes a held byte, and
 * MSG_OOB answers end of file (0), as Linux does.
 */
#ifndef TAPIR_CORE_TCP_URGENT_H
#define TAPIR_CORE_TCP_URGENT_H

#include <stdbool.h>
#include <stdint.h>

#include "core/tcp_conn.h"

/* What the receiver knows about the peer's urgent byte (c->urg_state). */
enum tcp_urg_state {
    TCP_URG_NONE = 0,   /* no urgent byte ahead of the reader */
    TCP_URG_NOTYET,     /* announced by an URG segment, not yet arrived in order */
    TCP_URG_HELD,       /* arrived; its value in urg_byte, not yet read with MSG_OOB */
    TCP_URG_READ,       /* read with MSG_OOB; still in the ring until read past */
};

/* Urgent mode of the sender: SND.UP is ahead of SND.UNA. While it lasts
 * Nagle does not hold data back (as Linux) and segments are not sent as
 * TSO frames (each wire segment needs its own urgent pointer). */
static inline bool tcp_urg_mode(const struct tcp_conn *c)
{
    return c->snd_urg && seq_lt(c->snd_una, c->snd_up);
}

/* send(MSG_OOB) queued data: SND.UP becomes the end of the queued data
 * (MUST-62); it never moves back. */
void tcp_urg_mark_sent(struct tcp_conn *c);
/* Output: set URG and SEG.UP on g (any segment but a SYN or RST) while
 * g->seq is before SND.UP; ends urgent mode once SND.UNA reached SND.UP. */
void tcp_urg_fill(struct tcp_conn *c, struct tcp_seg *g);

/* Input, step 6: an acceptable URG segment in a synchronized state, before
 * its text is queued. Records a new RCV.UP; invalid or old pointers are
 * ignored. */
void tcp_urg_input(struct tcp_conn *c, const struct tcp_seg *g);
/* Input, after the text was queued: the announced byte may have arrived. */
void tcp_urg_check_arrival(struct tcp_conn *c);

/* The sequence number of the next byte the application reads. */
uint32_t tcp_urg_read_seq(const struct tcp_conn *c);
/* A read of the receive ring (len > 0) is about to run: how many bytes it
 * may take from offset *skip (0 or 1: the urgent byte at the head, stepped
 * over by a peek). A non-peek read at the mark drops the out-of-band byte
 * from the ring here (as Linux: reading past the mark loses it). */
uint32_t tcp_urg_read_window(struct tcp_conn *c, bool peek, uint32_t *skip);
/* After a read consumed bytes: forget the mark once the reader passed it. */
void tcp_urg_after_read(struct tcp_conn *c);
/* Bytes an ordinary read can return (the held urgent byte at the head of
 * the stream does not count): for readiness. */
uint32_t tcp_urg_stream_len(const struct tcp_conn *c);
/* TCP_EV_URGENT while an urgent byte is held and unread. */
unsigned tcp_urg_events(const struct tcp_conn *c);

#endif
