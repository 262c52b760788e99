// Numeric options, parsed by hookdump rather than by CLI11, so that a bad value is one line
// naming the option and what it wants, with the range as the user would write it:
//   -c/--count: 'abc' is not a whole number
//   -s/--snapshot-length: 10 is out of range (64 to 262144)
// (CLI11's own answer was "--count: Value abc not in range 0.000000 to 1797...", DBL_MAX in
// full). Every numeric option of every subcommand is declared with add_number() and found by
// number_spec(): the table-driven test in tests/unit/cli_test.cpp walks the whole command line.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace hookdump {

struct NumberSpec {
    std::string label;  // "-c/--count", or a positional's name ("id")
    bool whole = true;  // an integer; otherwise a decimal number
    // Whole numbers: min to max, inclusive; max UINT64_MAX is "no upper bound" ("at least 1").
    // Decimals: above min (exclusive), up to max.
    uint64_t min = 0;
    uint64_t max = std::numeric_limits<uint64_t>::max();
};

// The value of `text` for `spec`, or a UsageError with the line above (without "hookdump: ").
uint64_t parse_whole(const std::string& text, const NumberSpec& spec);
double parse_decimal(const std::string& text, const NumberSpec& spec);
// "(64 to 262144)", "(at least 1)", "(above 0)", "(above 0, at most 1000000000)".
std::string range_text(const NumberSpec& spec);

// The spec of a numeric option declared with add_number/add_numbers, or nullptr.
const NumberSpec* number_spec(const CLI::Option* opt);

namespace detail {
CLI::Option* add_number_option(CLI::App& app, const std::string& names, const std::string& desc,
                               NumberSpec spec,
                               std::function<void(const std::string&, const NumberSpec&)> store,
                               bool many);
}

// A whole-number option into `var`, min to max (max defaults to T's largest value).
template <class T>
CLI::Option* add_number(CLI::App& app, const std::string& names, T& var, const std::string& desc,
                        uint64_t min, uint64_t max = std::numeric_limits<T>::max()) {
    static_assert(std::is_integral_v<T> && std::is_unsigned_v<T>);
    return detail::add_number_option(
        app, names, desc, NumberSpec{{}, true, min, max},
        [&var](const std::string& s, const NumberSpec& spec) {
            var = static_cast<T>(parse_whole(s, spec));
        },
        false);
}

// A decimal option into `var`: above `above`, at most `max`.
CLI::Option* add_decimal(CLI::App& app, const std::string& names, double& var,
                         const std::string& desc, uint64_t above = 0,
                         uint64_t max = std::numeric_limits<uint64_t>::max());

// Any number of whole numbers (a positional list such as `rules del ID...`).
CLI::Option* add_numbers(CLI::App& app, const std::string& names, std::vector<uint32_t>& var,
                         const std::string& desc, uint64_t min = 0,
                         uint64_t max = std::numeric_limits<uint32_t>::max());

}  // namespace hookdump
