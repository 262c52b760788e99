// How full a BPF ring buffer is (--metrics): libbpf 1.1 has no accessor for it, so its two
// position pages are mapped read-only here (as libbpf maps them for its reader: the kernel's
// consumer page at offset 0, the producer page after it) and read at the metrics snapshot.
#pragma once

#include <cstddef>
#include <cstdint>

#include "engine/engine.h"

namespace hookdump::bpf {

class RingbufFill {
  public:
    // `map_fd`: a BPF_MAP_TYPE_RINGBUF. Throws RuntimeError when it cannot be mapped.
    explicit RingbufFill(int map_fd);
    ~RingbufFill();
    RingbufFill(const RingbufFill&) = delete;
    RingbufFill& operator=(const RingbufFill&) = delete;

    // Bytes the programs have reserved (record headers and padding included) and the reader
    // has not consumed, of the ring's size. Exact on the thread that consumes (its consumer
    // position cannot move meanwhile); from another, a moment's view.
    RingFill fill() const;

  private:
    void* pos_ = nullptr;  // the consumer page, then the producer page
    size_t page_ = 0;
    uint64_t size_ = 0;
};

}  // namespace hookdump::bpf
