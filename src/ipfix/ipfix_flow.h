// A flow record as IPFIX sees it: the information elements hookdump's flows fill, and the
// observation point ids of its capture points (docs/FORMATS.md lists them).
#pragma once

#include "flow/flow_table.h"
#include "ipfix/ipfix_encoder.h"

namespace hookdump::ipfix {

// observationPointId: the capture point's number in hookdump's own numbering (tap-in 1 ...
// drop 12, the order of CapturePoint); 0, unknown, leaves the IE out.
uint32_t observation_point_id(CapturePoint p);

// The record's fields; what the flow does not know (an interface, a direction, the point) is
// left out of its template, never sent as zero. Every record is a delta: the flow table starts
// a new record after each export.
Record to_record(const FlowRecord& f);

}  // namespace hookdump::ipfix
