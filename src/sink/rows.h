// The one csv/jsonl writer family, for packets (sink/record_sinks.cpp), flows
// (sink/flow_record_sinks.cpp) and the ledger (--stats-json, cli/status.cpp). A record type has
// one field walk, a template over these policies: CsvRow and JsonRow write the record at a
// cursor into room the writer reserved for it (plain stores: no capacity check per character),
// CsvNames collects the field names, so the csv header comes from the same walk as the rows
// and the two cannot drift apart. Fields in order; names are literals.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "packet/event.h"
#include "packet/format.h"

namespace hookdump {

// What CsvRow and JsonRow share: the cursor into the record's reserved room.
class RowCursor {
  public:
    static constexpr bool kValues = true;  // CsvNames: false

    explicit RowCursor(char* p) : p_(p) {}
    char* end() const { return p_; }
    // Text this syntax wrote before (a memo of a record's fields), separators included.
    void paste(std::string_view v) {
        copy(v);
        first_ = false;
    }

  protected:
    void copy(std::string_view v) {
        std::memcpy(p_, v.data(), v.size());
        p_ += v.size();
    }
    // put_epoch_ns with the seconds already in text.
    void put_ns(std::string_view sec, uint32_t ns) {
        copy(sec);
        *p_++ = '.';
        p_ = put_padded(p_, ns, 9);
    }
    char* p_;
    bool first_ = true;
};

class CsvRow : public RowCursor {
  public:
    explicit CsvRow(char* p) : RowCursor(p) {}
    void begin() {}
    void finish() { *p_++ = '\n'; }
    void null(std::string_view) { sep(); }
    // A fixed word (capture point, direction, verdict): needs no quoting in either syntax.
    void word(std::string_view, std::string_view v) {
        sep();
        copy(v);
    }
    void text(std::string_view, std::string_view v) {
        sep();
        bool plain = true;
        for (char c : v) plain &= c != ',' && c != '"' && c != '\n' && c != '\r';
        if (plain) {
            copy(v);
            return;
        }
        *p_++ = '"';
        for (char c : v) {
            if (c == '"') *p_++ = '"';
            *p_++ = c;
        }
        *p_++ = '"';
    }
    void uint(std::string_view, uint64_t v) {
        sep();
        p_ = put_uint(p_, v);
    }
    void epoch_ns(std::string_view, std::string_view sec, uint32_t ns) {
        sep();
        put_ns(sec, ns);
    }
    void epoch_ns(std::string_view, uint64_t ts_ns) {
        sep();
        p_ = put_epoch_ns(p_, ts_ns);
    }
    void addr(std::string_view, uint8_t family, const std::array<uint8_t, 16>& a) {
        sep();
        p_ = put_addr(p_, family, a);
    }
    void tcp_flags(std::string_view, uint8_t f) {
        sep();
        p_ = put_tcp_flags(p_, f);
    }
    void digit(std::string_view, char c) {
        sep();
        *p_++ = c;
    }
    // Room a text of n bytes can take, quoted.
    static size_t room(size_t n) { return 2 * n + 2; }

  private:
    void sep() {
        if (!first_) *p_++ = ',';
        first_ = false;
    }
};

class JsonRow : public RowCursor {
  public:
    explicit JsonRow(char* p) : RowCursor(p) {}
    void begin() { *p_++ = '{'; }
    void finish() {
        std::memcpy(p_, "}\n", 2);
        p_ += 2;
    }
    // Ends an object inside another (--stats-json): no newline.
    void close() { *p_++ = '}'; }
    void null(std::string_view name) {
        key(name);
        copy("null");
    }
    void word(std::string_view name, std::string_view v) {
        key(name);
        *p_++ = '"';
        copy(v);
        *p_++ = '"';
    }
    void text(std::string_view name, std::string_view v) {
        key(name);
        *p_++ = '"';
        p_ = put_json_escaped(p_, v);
        *p_++ = '"';
    }
    void uint(std::string_view name, uint64_t v) {
        key(name);
        p_ = put_uint(p_, v);
    }
    void epoch_ns(std::string_view name, std::string_view sec, uint32_t ns) {
        key(name);
        put_ns(sec, ns);
    }
    void epoch_ns(std::string_view name, uint64_t ts_ns) {
        key(name);
        p_ = put_epoch_ns(p_, ts_ns);
    }
    void addr(std::string_view name, uint8_t family, const std::array<uint8_t, 16>& a) {
        key(name);
        *p_++ = '"';
        p_ = put_addr(p_, family, a);
        *p_++ = '"';
    }
    void tcp_flags(std::string_view name, uint8_t f) {
        key(name);
        *p_++ = '"';
        p_ = put_tcp_flags(p_, f);
        *p_++ = '"';
    }
    void digit(std::string_view name, char c) {
        key(name);
        *p_++ = c;
    }
    // `"name":` for a value written by another cursor (an object or array inside this one),
    // which then hands its end back with seek().
    void key(std::string_view name) {
        if (!first_) *p_++ = ',';
        first_ = false;
        *p_++ = '"';
        copy(name);
        std::memcpy(p_, "\":", 2);
        p_ += 2;
    }
    void seek(char* p) { p_ = p; }
    void put(char c) { *p_++ = c; }
    static size_t room(size_t n) { return 6 * n + 2; }
};

// The csv header: the names of the fields a walk visits, comma-separated, a newline at the end.
class CsvNames {
  public:
    static constexpr bool kValues = false;

    explicit CsvNames(std::string& out) : out_(out) {}
    void begin() {}
    void finish() { out_.push_back('\n'); }
    void null(std::string_view name) { add(name); }
    template <class... V>
    void word(std::string_view name, const V&...) {
        add(name);
    }
    template <class... V>
    void text(std::string_view name, const V&...) {
        add(name);
    }
    template <class... V>
    void uint(std::string_view name, const V&...) {
        add(name);
    }
    template <class... V>
    void epoch_ns(std::string_view name, const V&...) {
        add(name);
    }
    template <class... V>
    void addr(std::string_view name, const V&...) {
        add(name);
    }
    template <class... V>
    void tcp_flags(std::string_view name, const V&...) {
        add(name);
    }
    template <class... V>
    void digit(std::string_view name, const V&...) {
        add(name);
    }

  private:
    void add(std::string_view name) {
        if (!first_) out_.push_back(',');
        first_ = false;
        out_.append(name);
    }
    std::string& out_;
    bool first_ = true;
};

// The process fields (capture --proc) of packet and flow records: pid, comm, uid, cgroup (its
// path); null when no process is known.
template <class R>
void proc_fields(R& e, const ProcInfo& p) {
    if (p.known) {
        e.uint("pid", p.pid);
        e.text("comm", p.comm_view());
        e.uint("uid", p.uid);
    } else {
        e.null("pid");
        e.null("comm");
        e.null("uid");
    }
    if (p.known && !p.cgroup.empty())
        e.text("cgroup", p.cgroup);
    else
        e.null("cgroup");
}

// Formats one record with `fill(row)` into room bytes appended to `out`, keeping what it wrote:
// for writers whose buffer is a string (flows, the ledger), not the packet sinks' own.
template <class R, class F>
void append_row(std::string& out, size_t room, F&& fill) {
    const size_t at = out.size();
    out.resize(at + room);
    R row(out.data() + at);
    fill(row);
    out.resize(static_cast<size_t>(row.end() - out.data()));
}

}  // namespace hookdump
