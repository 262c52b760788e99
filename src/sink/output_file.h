// A buffered writer over a file descriptor that reports write errors as one clear line, and
// that leaves a file it could not finish ending at its last whole record (a pcap record, a
// pcapng block, a csv/jsonl line): readers take it as it is, and the ledger says how many
// records reached it (written) and why the rest did not.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "util/fd.h"

namespace hookdump {

// The file calls an OutputFile makes; tests give ones that fail where they want.
struct FileOps {
    ssize_t (*write)(int fd, const void* p, size_t n);
    int (*truncate)(int fd, off_t length);
};

// What reached one output file: the ledger's "written" (docs/FORMATS.md).
struct OutputStats {
    std::string path;      // for rotated files: FIRST..LAST
    uint64_t written = 0;  // packets (flows) in records that reached the file whole
    std::string why_not;   // why others did not: the failed write's error, or the format's limit
    unsigned files = 0;    // rotated outputs: the files opened (0: not rotated)
    unsigned overwritten = 0;  // of those, overwritten since by -W
    // An output that is not a file (IPFIX export) says what happened in a line of its own,
    // printed whether or not everything went.
    std::string line;
};

// The end of one record in a chunk of bytes (offset from the chunk's start), and how many of
// what the ledger counts (packets, flows) it holds: 0 for headers and interface blocks.
struct RecordEnd {
    uint32_t end;
    uint32_t units;
};

class OutputFile {
  public:
    // "-" is standard output. Throws RuntimeError naming the path when it cannot be created.
    explicit OutputFile(std::string path, size_t buffer_size = 1 << 20,
                        const FileOps* ops = nullptr);
    OutputFile(const OutputFile&) = delete;
    OutputFile& operator=(const OutputFile&) = delete;
    ~OutputFile();

    // Appends to the buffer (a part of the current record); writes it out when full. Throws
    // RuntimeError on a write error.
    void write(std::string_view bytes) {
        buf_.append(bytes);
        if (buf_.size() >= limit_) flush();
    }
    // Direct access for sinks that format in place; call end_record(), then maybe_flush().
    std::string& buffer() { return buf_; }
    // The buffer up to here ends a record holding `units` packets or flows.
    void end_record(uint32_t units = 1) {
        ends_.push_back({static_cast<uint32_t>(buf_.size()), units});
    }
    void maybe_flush() {
        if (buf_.size() >= limit_) flush();
    }
    void flush();
    // For writers that keep a buffer of their own: flushes this one's, then writes `bytes`
    // (whole records, `ends` in order) straight to the file.
    void write_records(std::string_view bytes, std::span<const RecordEnd> ends) {
        flush();
        write_chunk(bytes.data(), bytes.size(), ends);
    }
    // After a failed write: lets what is in the buffer now (a trailer: pcapng's statistics)
    // try once more at the file's end; if it does not fit either, the file is cut back again
    // and nothing is thrown.
    void retry_trailer() {
        trailer_ = failed_;
        failed_ = false;
    }
    // Flushes and closes, reporting errors from close() too (NFS, EIO).
    void close();

    const std::string& path() const { return path_; }
    uint64_t bytes_written() const { return written_ + buf_.size(); }
    // Packets or flows in the records that reached the file whole.
    uint64_t units_written() const { return units_written_; }
    // The errno of the failed write, 0 while none failed.
    int error() const { return error_; }
    // Path, units written, and the failed write's error.
    OutputStats stats() const;

  private:
    void write_chunk(const char* p, size_t n, std::span<const RecordEnd> ends);

    std::string path_;
    Fd fd_;
    const FileOps* ops_;
    bool is_stdout_ = false;
    bool failed_ = false;
    bool trailer_ = false;
    int error_ = 0;
    std::string buf_;
    std::vector<RecordEnd> ends_;
    size_t limit_;
    uint64_t written_ = 0;    // bytes in the file
    uint64_t whole_end_ = 0;  // where its last whole record ends
    uint64_t units_written_ = 0;
};

// A sink's own buffer in front of an OutputFile, for records formatted in place (pcap, csv,
// jsonl): one write(2) per kSize bytes instead of the OutputFile's append per piece. Small
// enough to stay in the CPU's cache until write(2) copies it, large enough that write(2) is
// rare.
class RecordBuffer {
  public:
    static constexpr size_t kSize = 256 << 10;

    explicit RecordBuffer(OutputFile& out) : out_(out), buf_(std::make_unique<char[]>(kSize)) {
        ends_.reserve(kSize / 64);
    }
    // Where a record of up to `need` bytes goes, after writing out what is buffered if it
    // might not fit; nullptr when it is bigger than the whole buffer (write_alone() it).
    char* room(size_t need) {
        if (used_ + need > kSize) {
            flush();
            if (need > kSize) return nullptr;
        }
        return buf_.get() + used_;
    }
    // The record of `n` bytes at room() is done: one packet.
    void commit(size_t n) {
        used_ += n;
        ends_.push_back({static_cast<uint32_t>(used_), 1});
    }
    // One packet's record that did not fit the buffer, straight to the file.
    void write_alone(std::string_view record) {
        const RecordEnd end{static_cast<uint32_t>(record.size()), 1};
        out_.write_records(record, {&end, 1});
    }
    void flush() {
        const size_t n = used_;
        used_ = 0;  // also when the write fails: the error is reported once
        try {
            out_.write_records({buf_.get(), n}, ends_);
        } catch (...) {
            ends_.clear();
            throw;
        }
        ends_.clear();
    }
    size_t pending() const { return used_; }

  private:
    OutputFile& out_;
    std::unique_ptr<char[]> buf_;
    size_t used_ = 0;
    std::vector<RecordEnd> ends_;  // of the records in buf_
};

}  // namespace hookdump
