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
    if (failed_) {
        buf_.clear();
        return;
    }
    size_t off = 0;
    while (off < buf_.size()) {
        const ssize_t n = ::write(fd_.get(), buf_.data() + off, buf_.size() - off);
        if (n < 0) {
            if (errno == EINTR) continue;
            const int err = errno;
            failed_ = true;
            buf_.clear();
            throw RuntimeError(errno_message("write " + (is_stdout_ ? std::string("stdout") : path_), err));
        }
        off += static_cast<size_t>(n);
    }
    written_ += off;
    buf_.clear();
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
