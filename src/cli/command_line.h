// hookdump's whole command line as one object: main() parses argv with it and runs what was
// chosen; tests/unit/cli_test.cpp walks the same definitions (every numeric option of every
// subcommand, from the options themselves).
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

#include "cli/commands.h"

namespace hookdump {

class CommandLine {
  public:
    CommandLine();
    CLI::App& app() { return app_; }
    // After app().parse(): runs the chosen command; throws UsageError/RuntimeError.
    int run();

  private:
    CLI::App app_{"hookdump: see a packet at every point of the Linux network stack"};
    int dump_level_ = 0;
    std::string dump_linktype_ = "EN10MB";
    std::string ebpf_hook_;
    std::vector<std::string> top_expression_;
    ReadCommand read_;
    GenerateCommand generate_;
    CaptureCommand capture_;
    KmodCommands kmod_;
    TraceCommand trace_;
};

}  // namespace hookdump
