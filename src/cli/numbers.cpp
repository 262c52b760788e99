#include "cli/numbers.h"

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <map>

#include "util/error.h"

namespace hookdump {
namespace {

std::map<const CLI::Option*, NumberSpec>& specs() {
    static std::map<const CLI::Option*, NumberSpec> m;
    return m;
}

// "-c,--count" -> "-c/--count" (CLI11 names are comma-separated, possibly with spaces).
std::string label_of(const std::string& names) {
    std::string label;
    for (char c : names) {
        if (c == ' ') continue;
        label += c == ',' ? '/' : c;
    }
    return label;
}

[[noreturn]] void out_of_range(const std::string& text, const NumberSpec& spec) {
    throw UsageError(fmt::format("{}: {} is out of range {}", spec.label, text, range_text(spec)));
}

}  // namespace

std::string range_text(const NumberSpec& spec) {
    constexpr uint64_t kNoMax = std::numeric_limits<uint64_t>::max();
    if (!spec.whole)
        return spec.max == kNoMax ? fmt::format("(above {})", spec.min)
                                  : fmt::format("(above {}, at most {})", spec.min, spec.max);
    return spec.max == kNoMax ? fmt::format("(at least {})", spec.min)
                              : fmt::format("({} to {})", spec.min, spec.max);
}

uint64_t parse_whole(const std::string& text, const NumberSpec& spec) {
    const char* begin = text.data();
    const char* end = begin + text.size();
    // A minus sign makes a whole number, only one below every range here.
    const bool negative = !text.empty() && text[0] == '-';
    uint64_t v = 0;
    const auto [ptr, ec] = std::from_chars(negative ? begin + 1 : begin, end, v);
    if (ptr != end || ec == std::errc::invalid_argument || (negative && text.size() == 1))
        throw UsageError(fmt::format("{}: '{}' is not a whole number", spec.label, text));
    if (ec == std::errc::result_out_of_range || (negative && v != 0) || v < spec.min ||
        v > spec.max)
        out_of_range(text, spec);
    return v;
}

double parse_decimal(const std::string& text, const NumberSpec& spec) {
    double v = 0;
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ptr != text.data() + text.size() || ec == std::errc::invalid_argument || !std::isfinite(v))
        throw UsageError(fmt::format("{}: '{}' is not a number", spec.label, text));
    if (ec == std::errc::result_out_of_range || !(v > static_cast<double>(spec.min)) ||
        v > static_cast<double>(spec.max))
        out_of_range(text, spec);
    return v;
}

const NumberSpec* number_spec(const CLI::Option* opt) {
    const auto it = specs().find(opt);
    return it == specs().end() ? nullptr : &it->second;
}

namespace detail {

CLI::Option* add_number_option(CLI::App& app, const std::string& names, const std::string& desc,
                               NumberSpec spec,
                               std::function<void(const std::string&, const NumberSpec&)> store,
                               bool many) {
    spec.label = label_of(names);
    // CLI11 hands over the words as given; store() throws the UsageError main() prints.
    CLI::Option* opt = app.add_option(
        names,
        [store = std::move(store), spec](const CLI::results_t& words) {
            for (const auto& w : words) store(w, spec);
            return true;
        },
        desc);
    opt->type_name(spec.whole ? "N" : "NUMBER");
    if (many) opt->expected(CLI::detail::expected_max_vector_size);  // one or more
    specs()[opt] = std::move(spec);
    return opt;
}

}  // namespace detail

CLI::Option* add_decimal(CLI::App& app, const std::string& names, double& var,
                         const std::string& desc, uint64_t above, uint64_t max) {
    return detail::add_number_option(
        app, names, desc, NumberSpec{{}, false, above, max},
        [&var](const std::string& s, const NumberSpec& spec) { var = parse_decimal(s, spec); },
        false);
}

CLI::Option* add_numbers(CLI::App& app, const std::string& names, std::vector<uint32_t>& var,
                         const std::string& desc, uint64_t min, uint64_t max) {
    return detail::add_number_option(
        app, names, desc, NumberSpec{{}, true, min, max},
        [&var](const std::string& s, const NumberSpec& spec) {
            var.push_back(static_cast<uint32_t>(parse_whole(s, spec)));
        },
        true);
}

}  // namespace hookdump
