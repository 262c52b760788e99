// A buffered writer over a file descriptor that reports write errors as one clear line.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "util/fd.h"

namespace hookdump {

class OutputFile {
public:
    // "-" is standard output. Throws RuntimeError naming the path when it cannot be created.
    explicit OutputFile(std::string path, size_t buffer_size = 1 << 20);
    OutputFile(const OutputFile&) = delete;
    OutputFile& operator=(const OutputFile&) = delete;
    ~OutputFile();

    // Appends to the buffer; writes it out when full. Throws RuntimeError on a write error.
    void write(std::string_view bytes) {
        buf_.append(bytes);
        if (buf_.size() >= limit_) flush();
    }
    // Direct access for sinks that format in place; call maybe_flush() after appending.
    std::string& buffer() { return buf_; }
    void maybe_flush() {
        if (buf_.size() >= limit_) flush();
    }
    void flush();
    // Flushes the buffer, then writes `bytes` straight to the file (for writers that keep a
    // buffer of their own).
    void write_through(std::string_view bytes) {
        flush();
        write_all(bytes.data(), bytes.size());
    }
    // Flushes and closes, reporting errors from close() too (NFS, EIO).
    void close();

    const std::string& path() const { return path_; }
    uint64_t bytes_written() const { return written_ + buf_.size(); }

private:
    void write_all(const char* p, size_t n);

    std::string path_;
    Fd fd_;
    bool is_stdout_ = false;
    bool failed_ = false;
    std::string buf_;
    size_t limit_;
    uint64_t written_ = 0;
};

}  // namespace hookdump
