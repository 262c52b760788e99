// The capture-file side of cbpf_translate_test (libpcap's headers cannot meet linux/bpf.h).
#include "cbpf_corpus.h"

#include <pcap/pcap.h>

#include <algorithm>
#include <filesystem>

namespace hookdump::test {

CorpusPackets read_ethernet_captures(const std::string& dir, size_t max_files) {
    CorpusPackets out;
    std::vector<std::filesystem::path> files;
    for (const auto& e : std::filesystem::directory_iterator(dir)) {
        const auto ext = e.path().extension();
        if (e.is_regular_file() && (ext == ".pcap" || ext == ".pcapng")) files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());
    if (max_files && files.size() > max_files) {
        // An even spread over the (name-sorted) corpus, not just its first files.
        std::vector<std::filesystem::path> picked;
        for (size_t i = 0; i < max_files; ++i)
            picked.push_back(files[i * files.size() / max_files]);
        files = std::move(picked);
    }
    char err[PCAP_ERRBUF_SIZE];
    for (const auto& f : files) {
        pcap_t* p = pcap_open_offline(f.c_str(), err);
        if (!p) {
            ++out.unreadable_files;
            continue;
        }
        if (pcap_datalink(p) != DLT_EN10MB) {
            ++out.other_linktype_files;
            pcap_close(p);
            continue;
        }
        ++out.ethernet_files;
        pcap_pkthdr* hdr = nullptr;
        const u_char* data = nullptr;
        int rc;
        while ((rc = pcap_next_ex(p, &hdr, &data)) == 1) {
            out.packets.push_back(
                {f.filename().string(), std::vector<uint8_t>(data, data + hdr->caplen)});
            if (hdr->caplen < hdr->len) ++out.truncated_packets;
        }
        pcap_close(p);
    }
    return out;
}

}  // namespace hookdump::test
