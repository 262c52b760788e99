// The IPFIX exporting process (RFC 7011): records into messages, messages onto a transport.
// Decides what the encoder does not: the sequence number (data records sent in this
// observation domain before the message; templates do not count), when a message goes (full,
// or its first record a second old), and when templates go again (a new transport session, a
// refresh interval over UDP, a message that did not go). Nothing here is fatal: what does not
// go is counted, with the reason.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "ipfix/ipfix_encoder.h"

namespace hookdump::ipfix {

// Where messages go (UDP or TCP, ipfix_transport.h; the unit tests' fake).
class Transport {
  public:
    virtual ~Transport() = default;
    // Whether a message can go now. TCP connects here (again after a loss, with backoff).
    virtual bool ready(uint64_t now_ns) = 0;
    // Changes when a new transport session begins (a new TCP connection): templates again.
    virtual uint64_t session() const = 0;
    // Sends one whole message: 0, or the errno why it did not go.
    virtual int send(std::span<const uint8_t> message) = 0;
    // Datagrams (UDP): a collector may miss templates or start later, so they are refreshed.
    virtual bool datagram() const = 0;
    // Why ready() is false, for the ledger ("not connected: Connection refused").
    virtual std::string not_ready_reason() const = 0;
    // An error the network reported after a send went (UDP: the ICMP port unreachable of a
    // collector not listening, ECONNREFUSED), waiting up to wait_ms for it; 0 when none. It
    // is taken: the next call does not see it again.
    virtual int take_error(int /*wait_ms*/) { return 0; }
};

struct ExporterConfig {
    uint32_t observation_domain = 0;
    size_t max_message = 1472;  // a 1500-byte IPv4 path less IP and UDP headers
    uint64_t template_refresh_ns = 60'000'000'000;
    uint64_t flush_interval_ns = 1'000'000'000;  // a message goes when its first record is this old
    // At least this long a message (0: as fast as they fill). Reading a file makes
    // messages faster than a collector reads its socket, whose buffer it may not be able to
    // grow: the exporter waits instead of the collector dropping them.
    uint64_t message_interval_ns = 0;
    // Paced messages go this many back to back, then wait out the burst's intervals: the same
    // rate with one sleep (a wakeup) per burst instead of per message.
    uint64_t message_burst = 1;
};

struct Clock {
    std::function<uint64_t()> realtime;   // export time
    std::function<uint64_t()> monotonic;  // intervals
    std::function<void(uint64_t)> sleep;  // nanoseconds (pacing)
    static Clock system();
};

struct ExportStats {
    uint64_t records_sent = 0;
    uint64_t records_not_sent = 0;
    uint64_t messages_sent = 0;
    uint64_t messages_not_sent = 0;
    uint64_t template_sends = 0;  // template records in messages sent
    // Records not sent, by reason, in the order reasons first happened.
    std::vector<std::pair<std::string, uint64_t>> not_sent_reasons;
};

class Exporter {
  public:
    Exporter(ExporterConfig config, std::unique_ptr<Transport> transport,
             Clock clock = Clock::system());

    void add(const Record& r);
    // Sends the message being built when its first record is flush_interval old. Call it at
    // least every few hundred milliseconds (add() calls it too).
    void tick();
    // Sends what is left, and counts a refusal of the last message (UDP) as its records not
    // sent, waiting briefly for it.
    void finish();
    // From now on at least interval_ns a message, on average over a burst (never less than
    // configured).
    void pace(uint64_t interval_ns) {
        if (interval_ns > config_.message_interval_ns) config_.message_interval_ns = interval_ns;
    }

    const ExportStats& stats() const { return stats_; }
    uint32_t sequence() const { return sequence_; }
    Transport& transport() { return *transport_; }

  private:
    bool start_message(uint64_t now);
    void send_message();
    void not_sent(uint64_t records, const std::string& why);
    // The last message sent was refused after it went: its records were not exported.
    void refused_after_send(int err);

    ExporterConfig config_;
    std::unique_ptr<Transport> transport_;
    Clock clock_;
    MessageBuilder builder_;
    uint32_t sequence_ = 0;  // data records sent before the next message, modulo 2^32
    uint64_t session_ = 0;   // the transport session the templates were sent on
    bool refreshed_ = false;
    uint64_t last_refresh_ns_ = 0;
    uint64_t first_record_ns_ = 0;    // when the message being built got its first record
    uint64_t next_send_ns_ = 0;       // pacing: the next burst not before
    uint64_t burst_sent_ = 0;         // messages of the current burst sent
    uint64_t last_sent_records_ = 0;  // in the last message sent, until an error says otherwise
    ExportStats stats_;
};

// "N flow records exported to WHERE, M not sent (reason: count, ...)" (the ledger's line).
std::string export_summary(const ExportStats& s, const std::string& where);

}  // namespace hookdump::ipfix
