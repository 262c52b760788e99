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
        : format_(f), base_(std::move(base)), rot_(r), current_(open_next()) {}

    void write(const PacketEvent& ev) override {
        if (!opened_ts_) opened_ts_ = ev.ts_ns;
        const bool time_up = rot_.seconds && ev.ts_ns >= opened_ts_ + rot_.seconds * 1000000000ull;
        if (time_up || (rot_.bytes && written_here_ && current_->bytes_written() >= rot_.bytes))
            switch_file(ev.ts_ns);
        current_->write(ev);
        ++written_here_;
    }
    void reopen() override { switch_file(0); }
    void flush() override {
        if (!finished_) current_->flush();
    }
    uint64_t bytes_written() const override { return current_->bytes_written(); }
    bool needs_parsed() const override { return current_->needs_parsed(); }
    // The packets handed to the files before this one all reached them: a failed write ends
    // the capture.
    void finish(const Ledger& ledger, uint64_t handed) override {
        if (!finished_) current_->finish(ledger, handed - done_handed_);
    }
    // Packets that reached any of the files, those -W overwrote later included.
    OutputStats output_stats() const override {
        OutputStats s = current_->output_stats();
        s.written += done_written_;
        if (!rot_.enabled()) {
            // One path, reopened: the files it was (0 when it never was).
            s.files = next_index_ > 1 ? next_index_ : 0;
            return s;
        }
        if (next_index_ > 1) s.path = first_path_ + ".." + s.path;
        s.files = next_index_;
        s.overwritten =
            rot_.max_files && next_index_ > rot_.max_files ? next_index_ - rot_.max_files : 0;
        return s;
    }

  private:
    // Finishes the current file and opens the next (`ts_ns`: when the next was started, 0:
    // at its first packet).
    void switch_file(uint64_t ts_ns) {
        // Until the next file is open: one that cannot be finished (a full disk) ends
        // whole, stays the current one for the ledger, and is not finished again.
        finished_ = true;
        current_->finish(Ledger{}, written_here_);
        std::unique_ptr<Sink> next = open_next();
        done_written_ += current_->output_stats().written;
        done_handed_ += written_here_;
        current_ = std::move(next);
        finished_ = false;
        written_here_ = 0;
        opened_ts_ = ts_ns;
    }

    std::unique_ptr<Sink> open_next() {
        SinkOptions o = base_;
        const unsigned index = rot_.max_files ? next_index_ % rot_.max_files : next_index_;
        o.path = rot_.enabled() ? rotated_name(base_.path, index) : base_.path;
        std::unique_ptr<Sink> s = format_.make(o);
        if (next_index_ == 0) first_path_ = o.path;
        ++next_index_;
        return s;
    }

    const SinkFormat& format_;
    SinkOptions base_;
    RotationOptions rot_;
    unsigned next_index_ = 0;
    std::string first_path_;
    std::unique_ptr<Sink> current_;
    uint64_t opened_ts_ = 0;
    uint64_t written_here_ = 0;
    uint64_t done_written_ = 0;  // written to the files finished before this one
    uint64_t done_handed_ = 0;   // handed to them
    bool finished_ = false;      // the current file's finish failed: it is closed
};

}  // namespace

std::unique_ptr<Sink> make_rotating_sink(const SinkFormat& format, const SinkOptions& base,
                                         RotationOptions r) {
    return std::make_unique<RotatingSink>(format, base, r);
}

}  // namespace hookdump
