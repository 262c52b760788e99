#include "sink/output_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "util/error.h"

namespace hookdump {

OutputFile::OutputFile(std::string path, size_t buffer_size)
    : path_(std::move(path)), limit_(buffer_size) {
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
    if (!failed_ && !buf_.empty()) {
        try {
            write_all(buf_.data(), buf_.size());
        } catch (...) {
            buf_.clear();  // the error is reported once
            throw;
        }
    }
    buf_.clear();
}

void OutputFile::write_all(const char* p, size_t n) {
    if (failed_) return;
    size_t off = 0;
    while (off < n) {
        const ssize_t w = ::write(fd_.get(), p + off, n - off);
        if (w < 0) {
            if (errno == EINTR) continue;
            const int err = errno;
            failed_ = true;
            throw RuntimeError(errno_message("write " + (is_stdout_ ? std::string("stdout") : path_), err));
        }
        off += static_cast<size_t>(w);
    }
    written_ += off;
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
