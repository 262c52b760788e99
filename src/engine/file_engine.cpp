#include "engine/file_engine.h"

#include "util/error.h"

namespace hookdump {

FileEngine::FileEngine(const std::string& path, const std::string& expression) : path_(path) {
    char errbuf[PCAP_ERRBUF_SIZE] = {};
    pcap_ =
        pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO, errbuf);
    if (!pcap_) throw UsageError("cannot read " + path + ": " + errbuf);
    if (!expression.empty()) {
        bpf_program prog{};
        if (pcap_compile(pcap_, &prog, expression.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
            std::string msg = std::string("bad filter expression: ") + pcap_geterr(pcap_);
            pcap_close(pcap_);
            throw UsageError(msg);
        }
        const int rc = pcap_setfilter(pcap_, &prog);
        pcap_freecode(&prog);
        if (rc != 0) {
            std::string msg = std::string("cannot set filter: ") + pcap_geterr(pcap_);
            pcap_close(pcap_);
            throw UsageError(msg);
        }
    }
    ledger_.interfaces.emplace_back();
}

FileEngine::~FileEngine() {
    if (pcap_) pcap_close(pcap_);
}

int FileEngine::datalink() const {
    return pcap_datalink(pcap_);
}

void FileEngine::run(EventHandler& handler, const std::atomic<bool>& stop) {
    const int dlt = pcap_datalink(pcap_);
    LinkType link{};
    const bool known_link = link_type_from_dlt(dlt, link);
    auto& counters = ledger_.interfaces.front();

    PacketEvent ev;
    // Events carry LINKTYPE_ values; DLT_RAW's platform numbers (12, 14) are LINKTYPE_RAW.
    ev.linktype = static_cast<uint16_t>(dlt == 12 || dlt == 14 ? 101 : dlt);
    while (!stop.load(std::memory_order_relaxed)) {
        pcap_pkthdr* h;
        const u_char* data;
        const int rc = pcap_next_ex(pcap_, &h, &data);
        if (rc == PCAP_ERROR_BREAK) break;  // end of file
        if (rc < 0) throw RuntimeError("reading " + path_ + ": " + pcap_geterr(pcap_));
        if (rc == 0) continue;
        // pcap files keep the seconds (and the fraction) as unsigned 32-bit values, which
        // libpcap hands over sign-extended: past January 2038 they arrive negative.
        const uint64_t sec = h->ts.tv_sec < 0 ? static_cast<uint32_t>(h->ts.tv_sec)
                                              : static_cast<uint64_t>(h->ts.tv_sec);
        const uint64_t frac = h->ts.tv_usec < 0 ? static_cast<uint32_t>(h->ts.tv_usec)
                                                : static_cast<uint64_t>(h->ts.tv_usec);
        ev.ts_ns = sec * 1000000000u + frac;
        ev.len = h->len;
        ev.bytes = {data, h->caplen};
        if (known_link) {
            ev.parsed = parse_packet(link, ev.bytes);
        } else {
            ev.parsed = Parsed{};
            ev.parsed.issue = ParseIssue::UnsupportedLink;
        }
        ++counters.received;
        if (!handler.on_event(ev)) break;
    }
}

}  // namespace hookdump
