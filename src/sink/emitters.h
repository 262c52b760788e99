// Record emitters shared by every csv/jsonl writer (packets, flows): one field walk, two
// syntaxes, so the formats cannot drift apart.
#pragma once

#include <string>
#include <string_view>

#include "packet/format.h"

namespace hookdump {

class CsvEmitter {
  public:
    explicit CsvEmitter(std::string& out) : out_(out) {}
    void begin() { first_ = true; }
    void end() { out_.push_back('\n'); }
    std::string& field(std::string_view) {
        if (!first_) out_.push_back(',');
        first_ = false;
        return out_;
    }
    void null(std::string_view name) { field(name); }
    void text(std::string_view name, std::string_view v) {
        auto& o = field(name);
        if (v.find_first_of(",\"\n\r") == std::string_view::npos) {
            o.append(v);
            return;
        }
        o.push_back('"');
        for (char c : v) {
            if (c == '"') o.push_back('"');
            o.push_back(c);
        }
        o.push_back('"');
    }
    // Numbers and fixed tokens need no quoting in either format.
    std::string& raw(std::string_view name) { return field(name); }
    std::string& raw_string_begin(std::string_view name) { return field(name); }
    void raw_string_end() {}

  private:
    std::string& out_;
    bool first_ = true;
};

class JsonEmitter {
  public:
    explicit JsonEmitter(std::string& out) : out_(out) {}
    void begin() {
        out_.push_back('{');
        first_ = true;
    }
    void end() { out_.append("}\n"); }
    std::string& field(std::string_view name) {
        if (!first_) out_.push_back(',');
        first_ = false;
        out_.push_back('"');
        out_.append(name);
        out_.append("\":");
        return out_;
    }
    void null(std::string_view name) { field(name).append("null"); }
    void text(std::string_view name, std::string_view v) {
        auto& o = field(name);
        o.push_back('"');
        append_json_escaped(o, v);
        o.push_back('"');
    }
    std::string& raw(std::string_view name) { return field(name); }
    std::string& raw_string_begin(std::string_view name) {
        auto& o = field(name);
        o.push_back('"');
        return o;
    }
    void raw_string_end() { out_.push_back('"'); }

  private:
    std::string& out_;
    bool first_ = true;
};

}  // namespace hookdump
