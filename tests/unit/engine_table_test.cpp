// The engine table (src/cli/engine_table.h) walked: every row can be opened and says when it is
// ready, names are unique and the ones Engine::name() returns, the options a row owns are
// `capture`'s and no other row's, and --engine's choices and help are the table's.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "cli/command_line.h"
#include "cli/engine_choice.h"
#include "cli/engine_table.h"
#include "engine/engine_names.h"
#include "util/error.h"

namespace hookdump {
namespace {

CLI::App* capture_of(CommandLine& cli) {
    return cli.app().get_subcommand("capture");
}

TEST(EngineTable, EveryRowIsComplete) {
    std::set<std::string_view> names;
    for (const EngineRow& row : engine_table()) {
        SCOPED_TRACE(std::string(row.name));
        EXPECT_TRUE(names.insert(row.name).second) << "two rows named " << row.name;
        EXPECT_NE(row.open, nullptr);
        EXPECT_NE(row.ready, nullptr);
        EXPECT_FALSE(row.owner.empty());
        EXPECT_EQ(&engine_row(row.name), &row);
    }
    using namespace engine_name;
    EXPECT_EQ(names, (std::set<std::string_view>{kAfPacket, kKmod, kNflog, kTc, kXdp, kDrop}));
    EXPECT_THROW(engine_row("nosuch"), UsageError);
}

TEST(EngineTable, OnlyDropWritesDropFields) {
    for (const EngineRow& row : engine_table())
        EXPECT_EQ(row.drop_fields, row.name == engine_name::kDrop) << row.name;
}

// The label field: NFLOG's records always (the prefix), hookdump.ko's with --group (the
// -j HOOKDUMP rules' events), no other engine's.
TEST(EngineTable, LabelFieldForNflogAndKmodGroups) {
    EngineOptions plain, group;
    group.group_given = true;
    for (const EngineRow& row : engine_table()) {
        SCOPED_TRACE(std::string(row.name));
        auto label = [&](const EngineOptions& o) { return row.label_field && row.label_field(o); };
        EXPECT_EQ(label(plain), row.name == engine_name::kNflog);
        EXPECT_EQ(label(group), row.name == engine_name::kNflog || row.name == engine_name::kKmod);
    }
}

TEST(EngineTable, OwnedOptionsAreCapturesAndOneRowsEach) {
    CommandLine cli;
    CLI::App* capture = capture_of(cli);
    ASSERT_NE(capture, nullptr);
    std::set<std::string_view> owned;
    size_t count = 0;
    for (const EngineRow& row : engine_table()) {
        for (std::string_view option : row.owned_options) {
            SCOPED_TRACE(std::string(row.name) + " " + std::string(option));
            ++count;
            EXPECT_TRUE(owned.insert(option).second) << "owned by two rows";
            const CLI::Option* opt = capture->get_option_no_throw(std::string(option));
            ASSERT_NE(opt, nullptr) << "not an option of capture";
            // Written as `capture` counts it (sub_->count(option)).
            EXPECT_TRUE(opt->check_name(std::string(option)));
        }
    }
    // Every engine but the BPF-free ones has one at least; the numbers as the rows are today.
    EXPECT_EQ(count, 13u);
}

TEST(EngineTable, EngineChoicesAndHelpAreTheTable) {
    CommandLine cli;
    CLI::App* capture = capture_of(cli);
    CLI::Option* engine = capture->get_option("--engine");
    ASSERT_NE(engine->get_validator(0), nullptr);
    std::string want = "{auto";
    for (const EngineRow& row : engine_table()) want += "," + std::string(row.name);
    EXPECT_EQ(engine->get_validator(0)->get_description(), want + "}");
    for (const EngineRow& row : engine_table()) {
        EXPECT_NE(engine->get_description().find(", " + std::string(row.name)), std::string::npos)
            << row.name << " not in: " << engine->get_description();
        CommandLine parse;
        EXPECT_NO_THROW(parse.app().parse("capture --engine " + std::string(row.name), false))
            << row.name;
    }
    CommandLine bad;
    EXPECT_THROW(bad.app().parse("capture --engine nosuch", false), CLI::ValidationError);
}

}  // namespace
}  // namespace hookdump
