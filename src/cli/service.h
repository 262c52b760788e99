// What running as a service takes (hookdump@.service, docs/SERVICE.md): capture's options from
// a configuration file, and readiness told to systemd.
#pragma once

#include <CLI/CLI.hpp>

#include <memory>
#include <string>
#include <string_view>

namespace hookdump {

// CLI11's TOML/INI reader with every key taken as an option of `subcommand`: the file of
// `capture --config FILE` holds capture's long option names without a section.
class SubcommandConfig final : public CLI::ConfigTOML {
  public:
    explicit SubcommandConfig(std::string subcommand) : subcommand_(std::move(subcommand)) {}
    std::vector<CLI::ConfigItem> from_config(std::istream& input) const override;

  private:
    std::string subcommand_;
};

// CLI11's message for a key of the file that names no option ("INI was not able to parse
// capture.bogus") as hookdump says it: "--config: 'bogus' is not an option of capture".
std::string config_error_line(std::string_view what);

// sd_notify(READY=1, STATUS=status) when systemd asked for it (NOTIFY_SOCKET is set); a
// failure to tell it is a warning, not an error (systemd then times the start out itself).
void notify_ready(std::string_view status);
// STOPPING=1, once a stop signal has come.
void notify_stopping();

}  // namespace hookdump
