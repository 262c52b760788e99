#include "sink/output_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "util/error.h"

namespace hookdump {
namespace {

const FileOps kSystemOps = {::write, ::ftruncate};

}  // namespace

OutputFile::OutputFile(std::string path, size_t buffer_size, const FileOps* ops)
    : path_(std::move(path)), ops_(ops ? ops : &kSystemOps), limit_(buffer_size) {
    buf_.reserve(buffer_size + 4096);
    if (path_ == "-") {
        is_stdout_ = true;
        fd_.reset(STDOUT_FILENO);
        return;
    }
    fd_.reset(::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!fd_) throw RuntimeError(errno_message("cannot create " + path_, errno));
}

OutputFile::~OutputFile() {
    try {
        close();
    } catch (...) {
        // Destructors must not throw; callers who care call close() themselves.
    }
}

void OutputFile::flush() {
    if (buf_.empty()) return;
    // Cleared also when the write fails: the error is reported once.
    struct Clear {
        OutputFile& f;
        ~Clear() {
            f.buf_.clear();
            f.ends_.clear();
        }
    } clear{*this};
    write_chunk(buf_.data(), buf_.size(), ends_);
}

void OutputFile::write_chunk(const char* p, size_t n, std::span<const RecordEnd> ends) {
    if (failed_) return;
    size_t off = 0;
    int err = 0;
    while (off < n) {
        const ssize_t w = ops_->write(fd_.get(), p + off, n - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            err = w < 0 ? errno : EIO;
            break;
        }
        off += static_cast<size_t>(w);
    }
    for (const RecordEnd& e : ends) {
        if (e.end > off) break;
        whole_end_ = written_ + e.end;
        units_written_ += e.units;
    }
    written_ += off;
    if (err == 0) return;
    failed_ = true;
    // Cut back to the last whole record (a pipe cannot be: what is in it is the reader's),
    // and write on from there: a trailer written at the old offset would follow a hole.
    if (!is_stdout_ && written_ != whole_end_ &&
        ops_->truncate(fd_.get(), static_cast<off_t>(whole_end_)) == 0) {
        written_ = whole_end_;
        ::lseek(fd_.get(), static_cast<off_t>(whole_end_), SEEK_SET);
    }
    if (trailer_) return;  // the trailer did not fit: the error was reported already
    error_ = err;
    throw RuntimeError(errno_message("write " + (is_stdout_ ? std::string("stdout") : path_), err));
}

OutputStats OutputFile::stats() const {
    return {path_, units_written_, error_ ? std::strerror(error_) : ""};
}

void OutputFile::close() {
    if (!fd_) return;
    flush();
    if (is_stdout_) {
        fd_.release();
        return;
    }
    if (::close(fd_.release()) != 0 && errno != EINTR)
        throw RuntimeError(errno_message("close " + path_, errno));
}

}  // namespace hookdump
