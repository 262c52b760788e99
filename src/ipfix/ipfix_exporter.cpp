#include "ipfix/ipfix_exporter.h"

#include <fmt/format.h>

#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "util/clock.h"

namespace hookdump::ipfix {

namespace {
constexpr int kRefusalWaitMs = 50;
}  // namespace

Clock Clock::system() {
    return {realtime_ns, [] { return clock_ns(CLOCK_MONOTONIC); },
            [](uint64_t ns) {
                const timespec ts{static_cast<time_t>(ns / 1'000'000'000),
                                  static_cast<long>(ns % 1'000'000'000)};
                nanosleep(&ts, nullptr);
            }};
}

Exporter::Exporter(ExporterConfig config, std::unique_ptr<Transport> transport, Clock clock)
    : config_(config),
      transport_(std::move(transport)),
      clock_(std::move(clock)),
      builder_(config.max_message) {
    // TCP: connecting now, so that the first records find the connection made.
    transport_->ready(clock_.monotonic());
}

void Exporter::not_sent(uint64_t records, const std::string& why) {
    if (!records) return;
    stats_.records_not_sent += records;
    for (auto& [reason, n] : stats_.not_sent_reasons)
        if (reason == why) {
            n += records;
            return;
        }
    stats_.not_sent_reasons.emplace_back(why, records);
}

void Exporter::refused_after_send(int err) {
    if (!err || !last_sent_records_) return;
    stats_.records_sent -= last_sent_records_;
    --stats_.messages_sent;
    ++stats_.messages_not_sent;
    not_sent(last_sent_records_, std::strerror(err));
    last_sent_records_ = 0;
}

bool Exporter::start_message(uint64_t now) {
    if (!transport_->ready(now)) return false;
    if (transport_->session() != session_) {
        session_ = transport_->session();
        builder_.resend_templates();
    }
    if (transport_->datagram()) {
        if (!refreshed_) {
            refreshed_ = true;
            last_refresh_ns_ = now;
        } else if (now - last_refresh_ns_ >= config_.template_refresh_ns) {
            builder_.resend_templates();
            last_refresh_ns_ = now;
        }
    }
    first_record_ns_ = now;
    return true;
}

void Exporter::send_message() {
    const uint64_t records = builder_.records();
    const uint64_t templates = builder_.templates();
    if (transport_->session() != session_) {
        // Built for a session that is gone: its templates are not on this one.
        builder_.finish(0, 0, 0);
        ++stats_.messages_not_sent;
        not_sent(records, "connection lost");
        builder_.resend_templates();
        return;
    }
    if (config_.message_interval_ns) {
        const uint64_t burst = std::max<uint64_t>(config_.message_burst, 1);
        const uint64_t now = clock_.monotonic();
        if (burst_sent_ >= burst) {
            if (now < next_send_ns_) clock_.sleep(next_send_ns_ - now);
            burst_sent_ = 0;
        }
        if (burst_sent_++ == 0)
            next_send_ns_ = std::max(now, next_send_ns_) + burst * config_.message_interval_ns;
    }
    const auto msg = builder_.finish(static_cast<uint32_t>(clock_.realtime() / 1'000'000'000),
                                     sequence_, config_.observation_domain);
    const int err = transport_->send(msg);
    if (err == 0) {
        sequence_ += static_cast<uint32_t>(records);
        stats_.records_sent += records;
        ++stats_.messages_sent;
        stats_.template_sends += templates;
        last_sent_records_ = records;
        return;
    }
    // A connected UDP socket reports the ICMP error of an earlier datagram on this send: that
    // one reached no collector either.
    if (err == ECONNREFUSED) refused_after_send(err);
    // Records that did not go are not counted in the sequence: the collector has no gap to
    // see, the ledger says what was lost. The templates may not have reached it either.
    ++stats_.messages_not_sent;
    not_sent(records, std::strerror(err));
    builder_.resend_templates();
}

void Exporter::add(const Record& r) {
    const uint64_t now = clock_.monotonic();
    if (!builder_.empty() && now - first_record_ns_ >= config_.flush_interval_ns) send_message();
    if (builder_.empty() && !start_message(now)) {
        not_sent(1, transport_->not_ready_reason());
        return;
    }
    if (builder_.add(r)) return;
    send_message();
    if (!start_message(now)) {
        not_sent(1, transport_->not_ready_reason());
        return;
    }
    builder_.add(r);  // an empty message holds any record
}

void Exporter::tick() {
    const uint64_t now = clock_.monotonic();
    // TCP: a lost connection is made again here too (with its backoff), not only when a record
    // comes, so that records after the collector is back find it connected.
    transport_->ready(now);
    refused_after_send(transport_->take_error(0));
    if (!builder_.empty() && now - first_record_ns_ >= config_.flush_interval_ns) send_message();
}

void Exporter::finish() {
    if (!builder_.empty()) send_message();
    // A collector's ICMP error comes within a round trip: a near one's within this wait.
    refused_after_send(transport_->take_error(kRefusalWaitMs));
}

std::string export_summary(const ExportStats& s, const std::string& where) {
    std::string out = fmt::format("{} flow records exported to {}", s.records_sent, where);
    if (s.records_not_sent) {
        out += fmt::format(", {} not sent (", s.records_not_sent);
        bool first = true;
        for (const auto& [reason, n] : s.not_sent_reasons) {
            if (!first) out += ", ";
            first = false;
            if (s.not_sent_reasons.size() == 1)
                out += reason;
            else
                out += fmt::format("{}: {}", reason, n);
        }
        out += ")";
    }
    return out;
}

}  // namespace hookdump::ipfix
