/* tapir — the list of counters and drop reasons.
 *
 * Both lists are X-macros so that the struct fields, the name tables printed
 * by tools and the enum of drop reasons come from one place. Add a line here
 * to add a counter; nothing else has to change.
 */
#ifndef TAPIR_COUNTERS_H
#define TAPIR_COUNTERS_H

/* Traffic counters: X(field, "description") */
#define TAPIR_COUNTERS(X)                                                   \
    X(eth_rx, "frames handed to the stack")                                 \
    X(eth_tx, "frames emitted by the stack")                                \
    X(arp_rx, "ARP packets accepted")                                       \
    X(arp_tx, "ARP packets sent")                                           \
    X(arp_requests_sent, "ARP requests sent to resolve an address")         \
    X(arp_replies_sent, "ARP replies sent")                                 \
    X(arp_queued, "IPv4 packets queued while their next hop resolves")      \
    X(arp_flushed, "queued IPv4 packets sent once resolved")                \
    X(ip_rx, "IPv4 datagrams accepted")                                     \
    X(ip_tx, "IPv4 datagrams sent")                                         \
    X(ip_frags_rx, "IPv4 fragments received")                               \
    X(ip_reassembled, "IPv4 datagrams reassembled from fragments")          \
    X(icmp_rx, "ICMP messages accepted")                                    \
    X(icmp_tx, "ICMP messages sent")                                        \
    X(icmp_echo_replies, "ICMP echo replies sent")                          \
    X(icmp_unreach_sent, "ICMP destination-unreachable messages sent")      \
    X(icmp_errors_rx, "ICMP error messages received and handed up")         \
    X(tcp_rx, "TCP segments accepted")                                      \
    X(tcp_tx, "TCP segments sent")                                          \
    X(tcp_retransmits, "TCP segments retransmitted")                        \
    X(tcp_rst_tx, "TCP resets sent")                                        \
    X(tcp_rst_rx, "TCP resets accepted")                                    \
    X(tcp_challenge_acks, "RFC 5961 challenge ACKs sent")                   \
    X(tcp_active_opens, "connections opened actively (connect)")            \
    X(tcp_passive_opens, "connections opened passively (accept)")           \
    X(tcp_aborts, "connections aborted")                                    \
    X(tcp_timeouts, "connections aborted after too many retransmissions")   \
    X(tcp_fast_retransmits, "fast retransmissions (three duplicate ACKs)")  \
    X(tcp_limited_transmits, "new segments sent on the first two duplicate ACKs (RFC 3042)") \
    X(tcp_ooo_queued, "out-of-order segments kept for later")               \
    X(buf_alloc_fail, "packet buffer allocations that found the pool empty") \
    X(tcp_sack_recoveries, "loss recoveries driven by SACK (RFC 6675)")     \
    X(tcp_sack_retransmits, "segments retransmitted to fill SACK holes")     \
    X(tcp_rtt_ts_samples, "RTT samples taken from echoed timestamps")     \
    X(tcp_rtt_ts_rejected, "echoed timestamps older than the data they acknowledge (no RTT sample)") \
    X(tcp_rto_expired, "retransmission timer expiries")                  \
    X(tcp_gso_rx, "TCP segments received above the MSS (device GSO)")      \
    X(tcp_tso_tx, "large TCP frames sent for the device to segment (TSO)") \
    X(tcp_rcvwin_grown, "receive windows grown with the bandwidth-delay product") \
    X(tcp_negative_advice, "next hops re-checked after R1 retransmissions (RFC 9293 3.8.3 (b))") \
    X(tcp_user_timeouts, "connections aborted by their TCP_USER_TIMEOUT (R2 as a time)") \
    X(tcp_spurious_rtos, "retransmission timeouts found spurious (RFC 3522 Eifel)") \
    X(tcp_spurious_fast_retransmits, "fast retransmits found spurious (RFC 3522 Eifel, RFC 3708 D-SACK)") \
    X(tcp_undos, "congestion reductions undone (RFC 4015, RFC 9438 4.9)") \
    X(tcp_undos_dsack, "of those, detected by D-SACK (RFC 3708)") \
    X(tcp_oow_acks_skipped, "ACKs not sent for out-of-window pure ACKs: rate limit per connection") \
    X(tcp_tw_compacted, "orphans in TIME_WAIT replaced by a compact record")  \
    X(tcp_tw_inflated, "compact TIME_WAIT records rebuilt into a connection for a segment")

/* Drop reasons: X(ENUM_SUFFIX, "description"). One counter each. */
#define TAPIR_DROP_REASONS(X)                                               \
    X(NO_BUFFER, "packet buffer pool exhausted")                            \
    X(OUTPUT_FAILED, "the device refused a frame")                          \
    X(ETH_TOO_SHORT, "Ethernet frame shorter than its header")              \
    X(ETH_NOT_OURS, "Ethernet frame for another MAC address")               \
    X(ETH_UNKNOWN_TYPE, "Ethernet frame with an unsupported ethertype")     \
    X(ARP_MALFORMED, "ARP packet too short or of another hardware/protocol")\
    X(ARP_NOT_FOR_US, "ARP packet about an address that is not ours")       \
    X(ARP_QUEUE_FULL, "packet waiting for ARP dropped: queue full")         \
    X(ARP_UNRESOLVED, "packet waiting for ARP dropped: no reply came")      \
    X(ARP_CACHE_FULL, "ARP resolution refused: every cache entry pending")  \
    X(IP_TOO_SHORT, "IPv4 packet shorter than its header")                  \
    X(IP_BAD_VERSION, "IPv4 version field is not 4")                        \
    X(IP_BAD_IHL, "IPv4 header length below 20 or past the packet")         \
    X(IP_BAD_LENGTH, "IPv4 total length disagrees with the frame")          \
    X(IP_BAD_CHECKSUM, "IPv4 header checksum wrong")                        \
    X(IP_BAD_SOURCE, "IPv4 source is broadcast, multicast or ours")         \
    X(IP_NOT_OURS, "IPv4 destination is not ours")                          \
    X(IP_UNKNOWN_PROTO, "IPv4 protocol not supported")                      \
    X(IP_NO_ROUTE, "no route to the destination")                           \
    X(IP_TOO_BIG, "outgoing IPv4 packet larger than the MTU")               \
    X(IP_FRAG_BAD, "IPv4 fragment malformed or past 65535 bytes")           \
    X(IP_FRAG_TIMEOUT, "IPv4 reassembly timed out")                         \
    X(IP_FRAG_NO_MEMORY, "IPv4 reassembly over its memory bound")           \
    X(ICMP_TOO_SHORT, "ICMP message shorter than its header")               \
    X(ICMP_BAD_CHECKSUM, "ICMP checksum wrong")                             \
    X(ICMP_UNSUPPORTED, "ICMP type not handled")                            \
    X(ICMP_RATE_LIMITED, "ICMP error not sent: rate limit")                 \
    X(TCP_TOO_SHORT, "TCP segment shorter than its header")                 \
    X(TCP_BAD_OFFSET, "TCP data offset below 5 or past the segment")        \
    X(TCP_BAD_CHECKSUM, "TCP checksum wrong")                               \
    X(TCP_BAD_OPTIONS, "TCP options malformed")                             \
    X(TCP_NO_SOCKET, "TCP segment for no connection")                       \
    X(TCP_OUT_OF_WINDOW, "TCP segment outside the receive window")          \
    X(TCP_BAD_ACK, "TCP segment acknowledging nothing we sent")             \
    X(TCP_RST_IGNORED, "TCP reset ignored (out of window or TIME_WAIT)")    \
    X(TCP_SYN_QUEUE_FULL, "SYN dropped: half-open queue full")              \
    X(TCP_BACKLOG_FULL, "SYN dropped: accept backlog full")                 \
    X(TCP_OOO_FULL, "out-of-order segment dropped: reassembly bound")       \
    X(TCP_CONN_LIMIT, "SYN dropped: connection limit reached")              \
    X(TCP_RATE_LIMITED, "RST or challenge ACK not sent: rate limit")       \
    X(TCP_BAD_FLAGS, "TCP flag combination that is never valid (SYN+RST, SYN+FIN)") \
    X(TCP_NO_ACK, "TCP segment without ACK in a synchronized state")        \
    X(TCP_UNEXPECTED, "TCP segment not acceptable in the connection's state") \
    X(TCP_PAWS, "TCP segment with an old timestamp (PAWS, RFC 7323 5)")      \
    X(TCP_NO_TIMESTAMP, "TCP segment without the timestamps both sides agreed on") \
    X(TSO_UNRESOLVED, "large TCP frame dropped: next hop not resolved (resent later)") \
    X(TCP_TIME_WAIT_NO_MEMORY, "TCP segment for a compact TIME_WAIT record dropped: no memory to process it")

#endif
