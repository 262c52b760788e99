// Rotation by time (-G) and size (-C), with at most -W files kept: every file is a complete,
// valid output of its format. Names: NAME.EXT becomes NAME-00000.EXT, NAME-00001.EXT, ...
// Without rotation it writes one path, which reopen() (SIGHUP) finishes and creates again.
#pragma once

#include <memory>

#include "sink/sink.h"

namespace hookdump {

struct RotationOptions {
    uint64_t seconds = 0;    // 0: no time rotation
    uint64_t bytes = 0;      // 0: no size rotation
    unsigned max_files = 0;  // 0: unbounded; else the index wraps and old files are overwritten
    bool enabled() const { return seconds || bytes; }
};

std::unique_ptr<Sink> make_rotating_sink(const SinkFormat& format, const SinkOptions& base,
                                         RotationOptions r);
// The name of file number `index` for a rotated output path.
std::string rotated_name(const std::string& path, unsigned index);

}  // namespace hookdump
