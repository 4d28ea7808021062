/* A tiny pcap file writer for tests: failing randomized runs are replayed
 * with the same seeds and recorded, so the trace can be read in Wireshark. */
#ifndef TAPIR_TEST_PCAP_WRITER_H
#define TAPIR_TEST_PCAP_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "tapir/tapir.h"

#define PCAP_LINKTYPE_ETHERNET 1
#define PCAP_LINKTYPE_RAW      101   /* bare IPv4/IPv6 packets */

struct pcap_writer;

/* NULL if the file cannot be created. */
struct pcap_writer *pcap_writer_open(const char *path, uint32_t linktype);
/* One frame at time `when` (microseconds). Errors are ignored: a trace is a
 * debugging aid and must not change the run it records. */
void pcap_writer_frame(struct pcap_writer *w, tapir_time_t when, const uint8_t *frame, size_t len);
void pcap_writer_close(struct pcap_writer *w);

#endif
