// Rows of a table looked up by name (output formats, engines): one rule and one message for a
// name no row has.
#pragma once

#include <string>
#include <string_view>

#include "util/error.h"

namespace hookdump {

// "a, b, c": the rows' names in order, for a message or a help text.
template <class Rows>
std::string row_names(const Rows& rows) {
    std::string s;
    for (const auto& row : rows) s += (s.empty() ? "" : ", ") + std::string(row.name);
    return s;
}

// Throws UsageError "unknown WHAT 'NAME' (known: ...)".
template <class Rows>
const auto& row_by_name(const Rows& rows, std::string_view name, std::string_view what) {
    for (const auto& row : rows)
        if (row.name == name) return row;
    throw UsageError("unknown " + std::string(what) + " '" + std::string(name) +
                     "' (known: " + row_names(rows) + ")");
}

}  // namespace hookdump
