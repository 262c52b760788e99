#include "sink/rotating_sink.h"

#include <cstdio>

namespace hookdump {

std::string rotated_name(const std::string& path, unsigned index) {
    char num[16];
    snprintf(num, sizeof num, "-%05u", index);
    const size_t slash = path.rfind('/');
    const size_t dot = path.rfind('.');
    if (dot == std::string::npos || (slash != std::string::npos && dot < slash) || dot == slash + 1)
        return path + num;
    return path.substr(0, dot) + num + path.substr(dot);
}

namespace {

class RotatingSink final : public Sink {
  public:
    RotatingSink(const SinkFormat& f, SinkOptions base, RotationOptions r)
        : format_(f), base_(std::move(base)), rot_(r) {
        open_next();
    }

    void write(const PacketEvent& ev) override {
        if (!opened_ts_) opened_ts_ = ev.ts_ns;
        const bool time_up = rot_.seconds && ev.ts_ns >= opened_ts_ + rot_.seconds * 1000000000ull;
        if (time_up || (rot_.bytes && written_here_ && current_->bytes_written() >= rot_.bytes)) {
            current_->finish(Ledger{});
            done_written_ += current_->output_stats().written;
            open_next();
            opened_ts_ = ev.ts_ns;
        }
        current_->write(ev);
        ++written_here_;
    }
    void flush() override { current_->flush(); }
    uint64_t bytes_written() const override { return current_->bytes_written(); }
    bool needs_parsed() const override { return current_->needs_parsed(); }
    void finish(const Ledger& ledger) override { current_->finish(ledger); }
    // Packets that reached any of the files (those -W overwrote later included).
    OutputStats output_stats() const override {
        OutputStats s = current_->output_stats();
        s.written += done_written_;
        if (next_index_ > 1) s.path = first_path_ + " to " + s.path;
        return s;
    }

  private:
    void open_next() {
        SinkOptions o = base_;
        const unsigned index = rot_.max_files ? next_index_ % rot_.max_files : next_index_;
        o.path = rotated_name(base_.path, index);
        if (next_index_ == 0) first_path_ = o.path;
        ++next_index_;
        current_ = format_.make(o);
        written_here_ = 0;
    }

    const SinkFormat& format_;
    SinkOptions base_;
    RotationOptions rot_;
    std::unique_ptr<Sink> current_;
    unsigned next_index_ = 0;
    uint64_t opened_ts_ = 0;
    uint64_t written_here_ = 0;
    uint64_t done_written_ = 0;  // in the files finished before this one
    std::string first_path_;
};

}  // namespace

std::unique_ptr<Sink> make_rotating_sink(const SinkFormat& format, const SinkOptions& base,
                                         RotationOptions r) {
    return std::make_unique<RotatingSink>(format, base, r);
}

}  // namespace hookdump
