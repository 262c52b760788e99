// capture --config FILE (src/cli/service.h): the examples of packaging/examples parse, the
// command line wins over the file, and a key that names no option is an error.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "cli/command_line.h"
#include "cli/service.h"

#ifndef HOOKDUMP_SOURCE_DIR
#error "HOOKDUMP_SOURCE_DIR must name the source tree"
#endif

namespace hookdump {
namespace {

namespace fs = std::filesystem;

// Parses `hookdump ARGS` as main() does; returns capture's subcommand.
CLI::App* parse(CommandLine& cli, std::vector<std::string> args) {
    args.insert(args.begin(), "hookdump");
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    cli.app().parse(static_cast<int>(argv.size()), argv.data());
    return cli.app().get_subcommand("capture");
}

std::string value(CLI::App* capture, const std::string& option) {
    return capture->get_option(option)->as<std::string>();
}

class Config : public ::testing::Test {
  protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() /
               ("hookdump-config-" +
                std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "-" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::create_directories(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }
    std::string file(const std::string& text) {
        const std::string path = dir_ / "test.conf";
        std::ofstream(path) << text;
        return path;
    }
    fs::path dir_;
};

TEST_F(Config, EveryExampleParses) {
    const fs::path examples = fs::path(HOOKDUMP_SOURCE_DIR) / "packaging" / "examples";
    unsigned n = 0;
    for (const auto& e : fs::directory_iterator(examples)) {
        if (e.path().extension() != ".conf") continue;
        ++n;
        CommandLine cli;
        CLI::App* capture = nullptr;
        ASSERT_NO_THROW(capture = parse(cli, {"capture", "--config", e.path().string()}))
            << e.path();
        EXPECT_TRUE(capture->parsed());
        EXPECT_EQ(capture->get_option("--interface")->count(), 1u) << e.path();
    }
    EXPECT_EQ(n, 2u);
}

TEST_F(Config, TheExamplesSayWhatTheirNamesSay) {
    const fs::path examples = fs::path(HOOKDUMP_SOURCE_DIR) / "packaging" / "examples";
    {
        CommandLine cli;
        CLI::App* c = parse(cli, {"capture", "--config", (examples / "flows-ipfix.conf").string()});
        EXPECT_EQ(value(c, "--engine"), "tc");
        EXPECT_EQ(value(c, "--ipfix"), "192.0.2.10:4739");
        EXPECT_EQ(c->get_option("--write")->count(), 0u);
        EXPECT_EQ(value(c, "expression"), "ip or ip6");
    }
    {
        CommandLine cli;
        CLI::App* c = parse(cli, {"capture", "--config", (examples / "pcap-ring.conf").string()});
        EXPECT_EQ(value(c, "--engine"), "afpacket");
        EXPECT_EQ(value(c, "--write"), "/var/log/hookdump/pcap-ring/ring.pcapng");
        EXPECT_EQ(value(c, "--rotate-size"), "100");
        EXPECT_EQ(value(c, "--rotate-files"), "10");
    }
}

TEST_F(Config, TheCommandLineWins) {
    CommandLine cli;
    CLI::App* c = parse(cli, {"capture", "-i", "vB", "--config",
                              file("interface = \"vA\"\nengine = \"tc\"\nflows = true\n")});
    EXPECT_EQ(value(c, "--interface"), "vB");
    EXPECT_EQ(value(c, "--engine"), "tc");
    EXPECT_TRUE(c->get_option("--flows")->as<bool>());
}

TEST_F(Config, UnknownKeysAndSectionsAreErrors) {
    for (const auto& [text, line] : std::vector<std::pair<std::string, std::string>>{
             {"interfaces = \"vA\"\n", "--config: 'interfaces' is not an option of capture"},
             {"[capture]\nengine = \"tc\"\n",
              "--config: sections ([capture]) are not read: the keys are capture's long option "
              "names"},
         }) {
        CommandLine cli;
        try {
            parse(cli, {"capture", "--config", file(text)});
            ADD_FAILURE() << text << ": parsed";
        } catch (const CLI::ConfigError& e) {
            EXPECT_EQ(config_error_line(e.what()), line) << text;
        }
    }
}

TEST_F(Config, AMissingFileIsAnError) {
    CommandLine cli;
    EXPECT_THROW(parse(cli, {"capture", "--config", (dir_ / "none.conf").string()}),
                 CLI::FileError);
}

TEST_F(Config, AValueIsCheckedAsOnTheCommandLine) {
    CommandLine cli;
    EXPECT_THROW(parse(cli, {"capture", "--config", file("engine = \"nosuch\"\n")}),
                 CLI::ValidationError);
}

}  // namespace
}  // namespace hookdump
