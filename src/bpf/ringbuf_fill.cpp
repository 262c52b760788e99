#include "bpf/ringbuf_fill.h"

#include <bpf/bpf.h>
#include <linux/bpf.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "util/error.h"

namespace hookdump::bpf {

RingbufFill::RingbufFill(int map_fd) : page_(static_cast<size_t>(sysconf(_SC_PAGESIZE))) {
    bpf_map_info info{};
    uint32_t len = sizeof info;
    if (bpf_obj_get_info_by_fd(map_fd, &info, &len) != 0)
        throw RuntimeError(errno_message("reading the BPF ring buffer's size", errno));
    if (info.type != BPF_MAP_TYPE_RINGBUF)
        throw RuntimeError("reading the BPF ring buffer's fill: the map is not a ring buffer");
    size_ = info.max_entries;
    // Read-only: the kernel lets only the consumer page be mapped writable, and this reader
    // moves nothing.
    void* p = ::mmap(nullptr, 2 * page_, PROT_READ, MAP_SHARED, map_fd, 0);
    if (p == MAP_FAILED)
        throw RuntimeError(errno_message("mapping the BPF ring buffer's positions", errno));
    pos_ = p;
}

RingbufFill::~RingbufFill() {
    if (pos_) ::munmap(pos_, 2 * page_);
}

RingFill RingbufFill::fill() const {
    // The kernel's unsigned longs, as libbpf reads them: the consumer's first, so that the
    // producer's, which only grows, is never behind it.
    const auto* base = static_cast<const unsigned char*>(pos_);
    const auto* consumer = reinterpret_cast<const unsigned long*>(base);
    const auto* producer = reinterpret_cast<const unsigned long*>(base + page_);
    const unsigned long c = __atomic_load_n(consumer, __ATOMIC_ACQUIRE);
    const unsigned long p = __atomic_load_n(producer, __ATOMIC_ACQUIRE);
    return {RingFill::Unit::Bytes, std::min<uint64_t>(p - c, size_), size_};
}

}  // namespace hookdump::bpf
