// IPFIX messages (RFC 7011) built from flow records: the header, template sets and data sets.
// Pure bytes, no sockets and no clock: the exporter (ipfix_exporter.h) decides when a message
// goes, what its sequence number is and when templates go again.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace hookdump::ipfix {

inline constexpr uint16_t kVersion = 10;
inline constexpr size_t kMessageHeaderLen = 16;
inline constexpr size_t kSetHeaderLen = 4;
inline constexpr uint16_t kTemplateSetId = 2;
inline constexpr uint16_t kFirstTemplateId = 256;  // 0-255 are set ids
inline constexpr uint16_t kDefaultPort = 4739;

// IANA "IPFIX Information Elements" ids of what hookdump exports (RFC 7012 names).
enum Ie : uint16_t {
    kOctetDeltaCount = 1,
    kPacketDeltaCount = 2,
    kProtocolIdentifier = 4,
    kTcpControlBits = 6,
    kSourceTransportPort = 7,
    kSourceIPv4Address = 8,
    kIngressInterface = 10,
    kDestinationTransportPort = 11,
    kDestinationIPv4Address = 12,
    kEgressInterface = 14,
    kSourceIPv6Address = 27,
    kDestinationIPv6Address = 28,
    kIcmpTypeCodeIPv4 = 32,
    kIpVersion = 60,
    kFlowDirection = 61,
    kFlowEndReason = 136,
    kObservationPointId = 138,
    kIcmpTypeCodeIPv6 = 139,
    kFlowStartMilliseconds = 152,
    kFlowEndMilliseconds = 153,
};

// hookdump's own elements (enterprise-specific, RFC 7011 3.2: the id's top bit set, then the
// enterprise number). No IANA element names a process. The enterprise number is 32473, the one
// RFC 5612 reserves for documentation and examples: hookdump has none registered; a collector
// that knows these ids under that number decodes them (docs/FORMATS.md).
inline constexpr uint32_t kEnterprise = 32473;
enum EnterpriseIe : uint16_t {
    kProcessId = 1,    // unsigned32: the thread group id
    kUserId = 2,       // unsigned32
    kCgroupId = 3,     // unsigned64: cgroup v2 id
    kProcessName = 4,  // string, 16 bytes, NUL-padded: the command name (comm)
};

// flowEndReason values (IANA).
enum class EndReason : uint8_t {
    IdleTimeout = 1,
    ActiveTimeout = 2,
    EndOfFlow = 3,
    ForcedEnd = 4,
    LackOfResources = 5,
};

// One data record's values. `has` says which of the optional ones the engine knows: a field it
// does not know is left out of the record's template, never sent as a zero that looks real.
struct Record {
    enum Has : uint8_t {
        kPorts = 0x01,     // sport, dport
        kIcmp = 0x02,      // icmp_type_code (type << 8 | code)
        kTcpFlags = 0x04,  // tcp_flags
        kIngress = 0x08,   // ingress_if
        kEgress = 0x10,    // egress_if
        kDirection = 0x20,
        kObservationPoint = 0x40,
        kProcess = 0x80,  // pid, uid, cgroup_id, comm: hookdump's enterprise elements
    };
    uint8_t has = 0;
    uint8_t family = 4;  // 4 or 6
    uint8_t proto = 0;
    uint8_t tcp_flags = 0;
    std::array<uint8_t, 16> src{};  // IPv4 in the first 4 bytes
    std::array<uint8_t, 16> dst{};
    uint16_t sport = 0;
    uint16_t dport = 0;
    uint16_t icmp_type_code = 0;
    uint8_t direction = 0;  // flowDirection: 0 ingress, 1 egress
    EndReason end_reason = EndReason::ForcedEnd;
    uint32_t ingress_if = 0;
    uint32_t egress_if = 0;
    uint32_t observation_point = 0;
    uint64_t octets = 0;    // octetDeltaCount: IP header and payload
    uint64_t packets = 0;   // packetDeltaCount
    uint64_t start_ms = 0;  // wall clock, milliseconds since the epoch
    uint64_t end_ms = 0;
    uint32_t pid = 0;
    uint32_t uid = 0;
    uint64_t cgroup_id = 0;
    std::array<char, 16> comm{};  // NUL-padded
};

struct Field {
    uint16_t id = 0;
    uint16_t len = 0;
    uint32_t enterprise = 0;  // 0: an IANA element
    // Its size in a template record: 4, 8 with an enterprise number.
    size_t spec_len() const { return enterprise ? 8 : 4; }
};

// The fields of a record's template, in order: what the family and `has` bits select (ports
// and ICMP type/code are exclusive; ports win).
std::vector<Field> template_fields(uint8_t family, uint8_t has);

// The largest message any one record needs on its own (header, its template set, its data
// set): a maximum message size below it cannot carry every record.
size_t min_message_size();

// Builds one message at a time, up to max_message bytes (never more). Templates are numbered
// from 256 in the order their layouts first appear and keep their ids; each goes into a
// message before the first data record that uses it, and again after resend_templates().
class MessageBuilder {
  public:
    // Throws std::invalid_argument below min_message_size() or above 65535 (the length field).
    explicit MessageBuilder(size_t max_message);

    // False when the record does not fit in this message: finish() it and add again (the
    // record then fits: a message with nothing in it holds any record).
    bool add(const Record& r);
    // No record and no template in the message being built.
    bool empty() const { return sets_.empty() && new_templates_.empty(); }
    size_t records() const { return records_; }
    size_t templates() const { return new_templates_.size(); }  // template records in it
    size_t size() const { return size_; }
    // The message's bytes, its header written; valid until the next call of add() or finish().
    // The builder is empty afterwards.
    std::span<const uint8_t> finish(uint32_t export_time_s, uint32_t sequence,
                                    uint32_t observation_domain);
    // Every template is sent again before its next data record: a new transport session, a
    // refresh, or a message that did not reach the collector. The message being built keeps
    // what it has.
    void resend_templates();
    size_t templates_known() const { return templates_.size(); }

  private:
    struct Template {
        uint8_t family = 0;
        uint8_t has = 0;
        uint16_t id = 0;
        uint16_t record_len = 0;
        bool sent = false;  // in this session, in a finished or the current message
        std::vector<Field> fields;
        std::vector<uint8_t> encoding;  // the template record: id, field count, fields
    };
    struct OpenSet {
        size_t tmpl = 0;
        std::vector<uint8_t> bytes;  // the records
    };

    size_t template_for(uint8_t family, uint8_t has);
    static size_t padded(size_t n) { return (n + 3) & ~size_t{3}; }

    size_t max_message_;
    std::vector<Template> templates_;
    // The message being built: templates first (one template set), then a data set per layout.
    std::vector<size_t> new_templates_;
    std::vector<OpenSet> sets_;
    std::vector<std::vector<uint8_t>> spare_;  // record buffers kept for reuse
    size_t size_ = kMessageHeaderLen;
    size_t records_ = 0;
    std::vector<uint8_t> out_;
};

}  // namespace hookdump::ipfix
