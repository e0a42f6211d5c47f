#include "domain/report.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cctype>
#include <cstdio>
#include <ctime>

namespace ssehub::domain {

std::string_view to_string(ReportStatus status) {
  switch (status) {
    case ReportStatus::Pending: return "pending";
    case ReportStatus::Queued: return "queued";
    case ReportStatus::Processing: return "processing";
    case ReportStatus::Canceled: return "canceled";
    case ReportStatus::Failed: return "failed";
    case ReportStatus::Completed: return "completed";
  }
  return "unknown";
}

std::optional<ReportStatus> parse_status(std::string_view text) {
  std::string lower(text);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (ReportStatus status : kAllStatuses)
    if (to_string(status) == lower) return status;
  return std::nullopt;
}

bool is_valid_transition(ReportStatus from, ReportStatus to) {
  using S = ReportStatus;
  switch (from) {
    case S::Pending: return to == S::Queued || to == S::Canceled;
    case S::Queued: return to == S::Processing || to == S::Canceled;
    case S::Processing: return to == S::Completed || to == S::Failed;
    case S::Failed: return to == S::Pending;
    case S::Canceled: return to == S::Pending;
    case S::Completed: return false;
  }
  return false;
}

nlohmann::json to_json(const Report& report) {
  return {{"userId", report.user_id},
          {"reportId", report.report_id},
          {"reportStatus", to_string(report.status)},
          {"createdAt", format_rfc3339(report.created_ms)},
          {"updatedAt", format_rfc3339(report.updated_ms)}};
}

std::string format_rfc3339(std::int64_t unix_ms) {
  const std::time_t seconds = static_cast<std::time_t>(unix_ms / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", utc.tm_year + 1900,
                     utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                     static_cast<int>(unix_ms % 1000));
}

std::optional<std::int64_t> parse_rfc3339(std::string_view text) {
  std::tm utc{};
  int millis = 0;
  std::string copy(text);
  if (std::sscanf(copy.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &utc.tm_year, &utc.tm_mon,
                  &utc.tm_mday, &utc.tm_hour, &utc.tm_min, &utc.tm_sec, &millis) != 7)
    return std::nullopt;
  utc.tm_year -= 1900;
  utc.tm_mon -= 1;
  return static_cast<std::int64_t>(timegm(&utc)) * 1000 + millis;
}

}  // namespace ssehub::domain
