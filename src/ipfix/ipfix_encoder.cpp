#include "ipfix/ipfix_encoder.h"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace hookdump::ipfix {

namespace {

void put8(std::vector<uint8_t>& b, uint8_t v) {
    b.push_back(v);
}
void put16(std::vector<uint8_t>& b, uint16_t v) {
    b.push_back(static_cast<uint8_t>(v >> 8));
    b.push_back(static_cast<uint8_t>(v));
}
void put32(std::vector<uint8_t>& b, uint32_t v) {
    put16(b, static_cast<uint16_t>(v >> 16));
    put16(b, static_cast<uint16_t>(v));
}
void put64(std::vector<uint8_t>& b, uint64_t v) {
    put32(b, static_cast<uint32_t>(v >> 32));
    put32(b, static_cast<uint32_t>(v));
}
void set16(uint8_t* p, uint16_t v) {
    p[0] = static_cast<uint8_t>(v >> 8);
    p[1] = static_cast<uint8_t>(v);
}
void set32(uint8_t* p, uint32_t v) {
    set16(p, static_cast<uint16_t>(v >> 16));
    set16(p + 2, static_cast<uint16_t>(v));
}

// Ports and ICMP type/code are exclusive (ports win); the rest as given.
uint8_t normalize(uint8_t has) {
    if (has & Record::kPorts) has &= static_cast<uint8_t>(~Record::kIcmp);
    return has;
}

// Appends the value of field f of record r, in the field's length.
void put_field(std::vector<uint8_t>& b, const Record& r, const Field& f) {
    if (f.enterprise == kEnterprise) {
        switch (f.id) {
            case kProcessId:
                put32(b, r.pid);
                break;
            case kUserId:
                put32(b, r.uid);
                break;
            case kCgroupId:
                put64(b, r.cgroup_id);
                break;
            case kProcessName:
                b.insert(b.end(), r.comm.begin(), r.comm.begin() + f.len);
                break;
            default:
                break;
        }
        return;
    }
    switch (f.id) {
        case kSourceIPv4Address:
        case kSourceIPv6Address:
            b.insert(b.end(), r.src.begin(), r.src.begin() + f.len);
            break;
        case kDestinationIPv4Address:
        case kDestinationIPv6Address:
            b.insert(b.end(), r.dst.begin(), r.dst.begin() + f.len);
            break;
        case kSourceTransportPort:
            put16(b, r.sport);
            break;
        case kDestinationTransportPort:
            put16(b, r.dport);
            break;
        case kIcmpTypeCodeIPv4:
        case kIcmpTypeCodeIPv6:
            put16(b, r.icmp_type_code);
            break;
        case kProtocolIdentifier:
            put8(b, r.proto);
            break;
        case kTcpControlBits:
            put8(b, r.tcp_flags);
            break;
        case kIpVersion:
            put8(b, r.family);
            break;
        case kOctetDeltaCount:
            put64(b, r.octets);
            break;
        case kPacketDeltaCount:
            put64(b, r.packets);
            break;
        case kFlowStartMilliseconds:
            put64(b, r.start_ms);
            break;
        case kFlowEndMilliseconds:
            put64(b, r.end_ms);
            break;
        case kIngressInterface:
            put32(b, r.ingress_if);
            break;
        case kEgressInterface:
            put32(b, r.egress_if);
            break;
        case kFlowDirection:
            put8(b, r.direction);
            break;
        case kFlowEndReason:
            put8(b, static_cast<uint8_t>(r.end_reason));
            break;
        case kObservationPointId:
            put32(b, r.observation_point);
            break;
        default:
            break;
    }
}

}  // namespace

std::vector<Field> template_fields(uint8_t family, uint8_t has) {
    has = normalize(has);
    const bool v6 = family == 6;
    const uint16_t alen = v6 ? 16 : 4;
    std::vector<Field> f;
    f.push_back({v6 ? kSourceIPv6Address : kSourceIPv4Address, alen});
    f.push_back({v6 ? kDestinationIPv6Address : kDestinationIPv4Address, alen});
    if (has & Record::kPorts) {
        f.push_back({kSourceTransportPort, 2});
        f.push_back({kDestinationTransportPort, 2});
    } else if (has & Record::kIcmp) {
        f.push_back({v6 ? kIcmpTypeCodeIPv6 : kIcmpTypeCodeIPv4, 2});
    }
    f.push_back({kProtocolIdentifier, 1});
    // tcpControlBits is unsigned16 since RFC 7125; one byte (reduced-size encoding, RFC 7011
    // 6.2) holds every flag hookdump sees and is what nfdump and pmacct read from softflowd.
    if (has & Record::kTcpFlags) f.push_back({kTcpControlBits, 1});
    f.push_back({kIpVersion, 1});
    f.push_back({kOctetDeltaCount, 8});
    f.push_back({kPacketDeltaCount, 8});
    f.push_back({kFlowStartMilliseconds, 8});
    f.push_back({kFlowEndMilliseconds, 8});
    if (has & Record::kIngress) f.push_back({kIngressInterface, 4});
    if (has & Record::kEgress) f.push_back({kEgressInterface, 4});
    if (has & Record::kDirection) f.push_back({kFlowDirection, 1});
    f.push_back({kFlowEndReason, 1});
    // observationPointId is unsigned64; four bytes (reduced-size) hold hookdump's values.
    if (has & Record::kObservationPoint) f.push_back({kObservationPointId, 4});
    if (has & Record::kProcess) {
        f.push_back({kProcessId, 4, kEnterprise});
        f.push_back({kUserId, 4, kEnterprise});
        f.push_back({kCgroupId, 8, kEnterprise});
        f.push_back({kProcessName, 16, kEnterprise});
    }
    return f;
}

size_t min_message_size() {
    // IPv6 with every optional field (ports rather than ICMP: the bigger layout).
    const auto f = template_fields(6, 0xff);
    size_t rec = 0, tmpl = 4;
    for (const Field& x : f) {
        rec += x.len;
        tmpl += x.spec_len();
    }
    return kMessageHeaderLen + kSetHeaderLen + tmpl + kSetHeaderLen + ((rec + 3) & ~size_t{3});
}

MessageBuilder::MessageBuilder(size_t max_message) : max_message_(max_message) {
    if (max_message < min_message_size() || max_message > 65535)
        throw std::invalid_argument("IPFIX message size " + std::to_string(max_message) +
                                    " out of range (" + std::to_string(min_message_size()) +
                                    " to 65535)");
}

size_t MessageBuilder::template_for(uint8_t family, uint8_t has) {
    for (size_t i = 0; i < templates_.size(); ++i)
        if (templates_[i].family == family && templates_[i].has == has) return i;
    Template t;
    t.family = family;
    t.has = has;
    t.id = static_cast<uint16_t>(kFirstTemplateId + templates_.size());
    t.fields = template_fields(family, has);
    put16(t.encoding, t.id);
    put16(t.encoding, static_cast<uint16_t>(t.fields.size()));
    for (const Field& f : t.fields) {
        put16(t.encoding, f.enterprise ? static_cast<uint16_t>(f.id | 0x8000) : f.id);
        put16(t.encoding, f.len);
        if (f.enterprise) put32(t.encoding, f.enterprise);
        t.record_len = static_cast<uint16_t>(t.record_len + f.len);
    }
    templates_.push_back(std::move(t));
    return templates_.size() - 1;
}

bool MessageBuilder::add(const Record& r) {
    const uint8_t has = normalize(r.has);
    const uint8_t family = r.family == 6 ? 6 : 4;
    // A linear search over a handful of layouts (two families times the fields engines know)
    // beats a map; the last set used is tried first.
    size_t ti;
    OpenSet* set = nullptr;
    if (!sets_.empty() && templates_[sets_.back().tmpl].family == family &&
        templates_[sets_.back().tmpl].has == has) {
        set = &sets_.back();
        ti = set->tmpl;
    } else {
        ti = template_for(family, has);
        for (OpenSet& s : sets_)
            if (s.tmpl == ti) set = &s;
    }
    Template& t = templates_[ti];

    size_t grow = 0;
    if (!t.sent) grow += (new_templates_.empty() ? kSetHeaderLen : 0) + t.encoding.size();
    if (set) {
        grow += padded(set->bytes.size() + t.record_len) - padded(set->bytes.size());
    } else {
        grow += kSetHeaderLen + padded(t.record_len);
    }
    if (size_ + grow > max_message_) return false;

    if (!t.sent) {
        t.sent = true;
        new_templates_.push_back(ti);
    }
    if (!set) {
        OpenSet s;
        s.tmpl = ti;
        if (!spare_.empty()) {
            s.bytes = std::move(spare_.back());
            spare_.pop_back();
        }
        sets_.push_back(std::move(s));
        set = &sets_.back();
    }
    for (const Field& f : t.fields) put_field(set->bytes, r, f);
    size_ += grow;
    ++records_;
    return true;
}

std::span<const uint8_t> MessageBuilder::finish(uint32_t export_time_s, uint32_t sequence,
                                                uint32_t observation_domain) {
    out_.clear();
    out_.resize(kMessageHeaderLen);
    if (!new_templates_.empty()) {
        const size_t at = out_.size();
        out_.resize(at + kSetHeaderLen);
        for (size_t ti : new_templates_) {
            const auto& e = templates_[ti].encoding;
            out_.insert(out_.end(), e.begin(), e.end());
        }
        set16(&out_[at], kTemplateSetId);
        set16(&out_[at + 2], static_cast<uint16_t>(out_.size() - at));
    }
    for (OpenSet& s : sets_) {
        const size_t at = out_.size();
        out_.resize(at + kSetHeaderLen);
        out_.insert(out_.end(), s.bytes.begin(), s.bytes.end());
        // Padding to four bytes (RFC 7011 3.3.1: shorter than any record, so never mistaken
        // for one).
        out_.resize(at + padded(out_.size() - at), 0);
        set16(&out_[at], templates_[s.tmpl].id);
        set16(&out_[at + 2], static_cast<uint16_t>(out_.size() - at));
        s.bytes.clear();
        spare_.push_back(std::move(s.bytes));
    }
    set16(&out_[0], kVersion);
    set16(&out_[2], static_cast<uint16_t>(out_.size()));
    set32(&out_[4], export_time_s);
    set32(&out_[8], sequence);
    set32(&out_[12], observation_domain);
    sets_.clear();
    new_templates_.clear();
    size_ = kMessageHeaderLen;
    records_ = 0;
    return out_;
}

void MessageBuilder::resend_templates() {
    // Templates in the message being built stay marked: they go with it.
    for (size_t i = 0; i < templates_.size(); ++i)
        if (std::find(new_templates_.begin(), new_templates_.end(), i) == new_templates_.end())
            templates_[i].sent = false;
}

}  // namespace hookdump::ipfix
