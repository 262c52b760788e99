#include "engine/file_engine.h"

#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <vector>

#include "util/error.h"

namespace hookdump {

namespace {

// pcap's file and record headers (pcap-savefile(5)), in the writer's byte order.
struct FileHeader {
    uint32_t magic;
    uint16_t version_major;
    uint16_t version_minor;
    int32_t thiszone;
    uint32_t sigfigs;
    uint32_t snaplen;
    uint32_t linktype;
};
static_assert(sizeof(FileHeader) == 24);
constexpr uint32_t kMagicMicro = 0xa1b2c3d4;
constexpr uint32_t kMagicNano = 0xa1b23c4d;
constexpr size_t kRecordHeader = 16;
constexpr size_t kBatch = 32;             // events handed over (and prefetched) at once
constexpr size_t kReadSize = 512 * 1024;  // bytes a read asks for

uint32_t load32(const uint8_t* p) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
}

// A record's time as libpcap hands it over and run_libpcap converts it: the 32-bit fields
// sign-extended (then taken back as unsigned when negative), microseconds scaled up first.
uint64_t record_ns(uint32_t sec32, uint32_t frac32, bool micro) {
    const int64_t sec = static_cast<int32_t>(sec32);
    int64_t frac = static_cast<int32_t>(frac32);
    if (micro) frac *= 1000;
    const uint64_t s = sec < 0 ? static_cast<uint32_t>(sec) : static_cast<uint64_t>(sec);
    const uint64_t f = frac < 0 ? static_cast<uint32_t>(frac) : static_cast<uint64_t>(frac);
    return s * 1000000000u + f;
}

}  // namespace

FileEngine::FileEngine(const std::string& path, const std::string& expression) : path_(path) {
    char errbuf[PCAP_ERRBUF_SIZE] = {};
    pcap_ =
        pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO, errbuf);
    if (!pcap_) throw UsageError("cannot read " + path + ": " + errbuf);
    if (!expression.empty()) {
        if (pcap_compile(pcap_, &filter_, expression.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
            std::string msg = std::string("bad filter expression: ") + pcap_geterr(pcap_);
            pcap_close(pcap_);
            throw UsageError(msg);
        }
        has_filter_ = true;
        if (pcap_setfilter(pcap_, &filter_) != 0) {
            std::string msg = std::string("cannot set filter: ") + pcap_geterr(pcap_);
            pcap_freecode(&filter_);
            pcap_close(pcap_);
            throw UsageError(msg);
        }
    }
    ledger_.interfaces.emplace_back();
}

FileEngine::~FileEngine() {
    if (has_filter_) pcap_freecode(&filter_);
    if (pcap_) pcap_close(pcap_);
}

int FileEngine::datalink() const {
    return pcap_datalink(pcap_);
}

void FileEngine::run(EventHandler& handler, const std::atomic<bool>& stop) {
    if (run_direct(handler, stop)) run_libpcap(handler, stop);
}

// Reads what libpcap's pcap_next_ex would, records whole and within the snapshot length
// only: the first record that is not (cut short, longer than the snapshot length, a read
// error) is left to libpcap, which reads on from there with its own checks and messages.
bool FileEngine::run_direct(EventHandler& handler, const std::atomic<bool>& stop) {
    FILE* fp = pcap_file(pcap_);
    if (!fp || pcap_is_swapped(pcap_)) return true;
    const int fd = fileno(fp);
    struct stat st {};
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return true;
    FileHeader fh{};
    if (pread(fd, &fh, sizeof fh, 0) != static_cast<ssize_t>(sizeof fh)) return true;
    // Classic pcap 2.4 (earlier versions may have caplen and len swapped), native order.
    if ((fh.magic != kMagicMicro && fh.magic != kMagicNano) || fh.version_major != 2 ||
        fh.version_minor != 4 || ftello(fp) != static_cast<off_t>(sizeof fh))
        return true;
    const int dlt = pcap_datalink(pcap_);
    LinkType link{};
    // Other link types may have their pseudo-headers rewritten by libpcap.
    if (!link_type_from_dlt(dlt, link)) return true;
    const bool micro = fh.magic == kMagicMicro;
    const auto snapshot = static_cast<uint32_t>(pcap_snapshot(pcap_));

    // Not sized by the snapshot length: a file's header may claim up to 2^31 bytes
    // (libpcap takes that as it is). A record that does not fit goes to libpcap.
    std::vector<uint8_t> buf(kReadSize);
    size_t pos = 0, end = 0;     // unread bytes: buf[pos, end)
    off_t file_end = sizeof fh;  // the file offset of buf[end]
    bool eof = false;
    auto& counters = ledger_.interfaces.front();
    std::array<PacketEvent, kBatch> batch;
    for (PacketEvent& ev : batch)
        ev.linktype = static_cast<uint16_t>(dlt == 12 || dlt == 14 ? 101 : dlt);

    while (!stop.load(std::memory_order_relaxed)) {
        size_t n = 0;
        bool need_more = false, handover = false;
        while (n < kBatch) {
            const size_t avail = end - pos;
            if (avail < kRecordHeader) {
                need_more = true;
                break;
            }
            const uint8_t* h = buf.data() + pos;
            const uint32_t caplen = load32(h + 8);
            if (caplen > snapshot || kRecordHeader + caplen > buf.size()) {
                handover = true;
                break;
            }
            if (avail < kRecordHeader + caplen) {
                need_more = true;
                break;
            }
            pos += kRecordHeader + caplen;
            const uint32_t len = load32(h + 12);
            const uint8_t* data = h + kRecordHeader;
            if (has_filter_) {
                pcap_pkthdr ph{};
                ph.caplen = caplen;
                ph.len = len;
                if (!pcap_offline_filter(&filter_, &ph, data)) continue;
            }
            PacketEvent& ev = batch[n++];
            ev.ts_ns = record_ns(load32(h), load32(h + 4), micro);
            ev.len = len;
            ev.bytes = {data, caplen};
            ev.parsed = parse_packet(link, ev.bytes);
        }
        if (n) {
            handler.prefetch({batch.data(), n});
            for (size_t i = 0; i < n; ++i) {
                ++counters.received;
                if (!handler.on_event(batch[i])) return false;
            }
        }
        if (handover) break;
        if (!need_more) continue;
        if (eof) break;
        // Keep the unread bytes (a record cut by the last read) and read on after them.
        std::memmove(buf.data(), buf.data() + pos, end - pos);
        end -= pos;
        pos = 0;
        while (end < buf.size()) {
            const ssize_t r = pread(fd, buf.data() + end, buf.size() - end, file_end);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) {
                eof = true;  // or an error: libpcap reads it again and says which
                break;
            }
            end += static_cast<size_t>(r);
            file_end += r;
        }
    }
    if (stop.load(std::memory_order_relaxed)) return false;
    // From the first record not read here: the end of the file, a cut or a bad record.
    const off_t at = file_end - static_cast<off_t>(end - pos);
    if (fseeko(fp, at, SEEK_SET) != 0) throw RuntimeError("reading " + path_ + ": cannot seek");
    return true;
}

void FileEngine::run_libpcap(EventHandler& handler, const std::atomic<bool>& stop) {
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
