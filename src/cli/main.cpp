// hookdump's command line: subcommands in tcpdump's habits where they fit.
// Exit status: 0 success, 1 runtime failure, 2 bad usage or input.
#include <fmt/format.h>

#include <cstdio>

#include "cli/command_line.h"
#include "cli/service.h"
#include "util/error.h"

using namespace hookdump;

int main(int argc, char** argv) {
    CommandLine cli;
    CLI::App& app = cli.app();

    // "--flows=FILE" is the only way to give --flows a file (see OutputOptions).
    std::vector<std::string> args(argv, argv + argc);
    for (auto& a : args)
        if (a.rfind("--flows=", 0) == 0) a = "--flows-file=" + a.substr(8);
    std::vector<char*> cargs;
    for (auto& a : args) cargs.push_back(a.data());

    try {
        try {
            app.parse(static_cast<int>(cargs.size()), cargs.data());
        } catch (const CLI::CallForHelp& e) {
            return app.exit(e);
        } catch (const CLI::CallForAllHelp& e) {
            return app.exit(e);
        } catch (const CLI::CallForVersion& e) {
            return app.exit(e);
        } catch (const CLI::ConfigError& e) {
            fmt::print(stderr, "hookdump: {}\n", config_error_line(e.what()));
            return kExitUsage;
        } catch (const CLI::ParseError& e) {
            // One line, like every other error (scripts read the first line of stderr).
            fmt::print(stderr, "hookdump: {} (see 'hookdump --help')\n", e.what());
            return kExitUsage;
        }
        // A numeric option's value (src/cli/numbers.h) throws UsageError from inside parse().
        return cli.run();
    } catch (const UsageError& e) {
        fmt::print(stderr, "hookdump: {}\n", e.what());
        return kExitUsage;
    } catch (const RuntimeError& e) {
        fmt::print(stderr, "hookdump: {}\n", e.what());
        return kExitRuntime;
    }
}
