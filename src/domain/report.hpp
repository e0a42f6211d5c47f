#pragma once

#include <nlohmann/json_fwd.hpp>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ssehub::domain {

// The fixed life cycle of a report (v4).
enum class ReportStatus { Pending, Queued, Processing, Canceled, Failed, Completed };

inline constexpr std::array<ReportStatus, 6> kAllStatuses = {
    ReportStatus::Pending, ReportStatus::Queued,  ReportStatus::Processing,
    ReportStatus::Canceled, ReportStatus::Failed, ReportStatus::Completed};

std::string_view to_string(ReportStatus status);
// Accepts any letter case ("Queued", "QUEUED"); nullopt for anything else.
std::optional<ReportStatus> parse_status(std::string_view text);

// pending->queued|canceled, queued->processing|canceled, processing->completed|failed,
// failed->pending, canceled->pending. Nothing else, not even a status to itself.
bool is_valid_transition(ReportStatus from, ReportStatus to);

struct Report {
  std::string user_id;    // canonical lowercase UUID
  std::string report_id;  // canonical lowercase UUID
  ReportStatus status = ReportStatus::Pending;
  std::int64_t created_ms = 0;  // Unix milliseconds, UTC
  std::int64_t updated_ms = 0;
};

// {"userId", "reportId", "reportStatus", "createdAt", "updatedAt"}: the wire shape.
nlohmann::json to_json(const Report& report);

// RFC 3339 UTC with milliseconds, e.g. 2026-11-28T23:00:55.123Z.
std::string format_rfc3339(std::int64_t unix_ms);
std::optional<std::int64_t> parse_rfc3339(std::string_view text);

}  // namespace ssehub::domain
