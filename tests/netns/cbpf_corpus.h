// Packets of the Ethernet capture files in a directory (the tcpdump test corpus).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace hookdump::test {

struct CorpusPacket {
    std::string origin;          // file name
    std::vector<uint8_t> bytes;  // as captured (caplen)
};

struct CorpusPackets {
    std::vector<CorpusPacket> packets;
    size_t ethernet_files = 0;
    size_t other_linktype_files = 0;
    size_t unreadable_files = 0;
    size_t truncated_packets = 0;  // captured shorter than on the wire
};

// Every packet of every *.pcap / *.pcapng file of link type Ethernet in `dir` (name order);
// with max_files, only that many files, spread evenly over the directory.
CorpusPackets read_ethernet_captures(const std::string& dir, size_t max_files = 0);

}  // namespace hookdump::test
