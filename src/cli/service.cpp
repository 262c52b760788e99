#include "cli/service.h"

#include <fmt/format.h>
#include <systemd/sd-daemon.h>

#include <cstdlib>
#include <cstring>

namespace hookdump {

std::vector<CLI::ConfigItem> SubcommandConfig::from_config(std::istream& input) const {
    std::vector<CLI::ConfigItem> read = CLI::ConfigTOML::from_config(input);
    // A [section] becomes capture.section, which names no subcommand: refused as unknown.
    for (CLI::ConfigItem& item : read) item.parents.insert(item.parents.begin(), subcommand_);
    return read;
}

std::string config_error_line(std::string_view what) {
    constexpr std::string_view kPrefix = "INI was not able to parse ";
    if (what.substr(0, kPrefix.size()) != kPrefix) return std::string(what);
    std::string_view key = what.substr(kPrefix.size());
    const size_t dot = key.find('.');
    const std::string_view sub = key.substr(0, dot);
    key = dot == std::string_view::npos ? std::string_view{} : key.substr(dot + 1);
    // A [section]: CLI11 opens it with an item named "++".
    if (key.size() > 3 && key.substr(key.size() - 3) == ".++")
        return fmt::format(
            "--config: sections ([{}]) are not read: the keys are {}'s long option "
            "names",
            key.substr(0, key.size() - 3), sub);
    return fmt::format("--config: '{}' is not an option of {}", key, sub);
}

namespace {

void notify(const std::string& state) {
    if (!std::getenv("NOTIFY_SOCKET")) return;
    const int rc = sd_notify(0, state.c_str());
    if (rc < 0) fmt::print(stderr, "hookdump: warning: sd_notify: {}\n", std::strerror(-rc));
}

}  // namespace

void notify_ready(std::string_view status) {
    notify(fmt::format("READY=1\nSTATUS={}", status));
}

void notify_stopping() {
    notify("STOPPING=1");
}

}  // namespace hookdump
