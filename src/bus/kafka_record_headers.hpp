// The headers the Kafka bus writes on each record it produces and reads on each it consumes.
#pragma once

namespace ssehub::bus::kafka_record_headers {

constexpr const char* kTypeHeader = "ssehub-type";
constexpr const char* kDedupeHeader = "ssehub-dedupe";
// The node that produced a keyed record, so that only it keeps the record's id for its
// publisher.
constexpr const char* kNodeHeader = "ssehub-node";

}  // namespace ssehub::bus::kafka_record_headers
