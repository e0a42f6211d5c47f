#pragma once

#include "domain/report.hpp"

#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace ssehub::store {

using domain::Report;
using domain::ReportStatus;

// The store cannot be reached or failed to answer: the caller answers 503, and nothing
// was half-written (every write is a single conditional item write).
class StoreUnavailable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct TransitionOutcome {
  enum class Kind { Applied, NotFound, Conflict } kind = Kind::NotFound;
  Report report;  // Applied: the updated report; Conflict: the report as it is now
};

// Where reports live. Every call blocks, so callers run them on store threads, never on
// I/O threads. Each write also marks the report as having an unpublished event
// (`event_pending`), cleared by mark_event_published once the event is in history: after a
// crash between the two, list_event_pending finds what still needs publishing.
class Store {
 public:
  virtual ~Store() = default;

  // Stores a new report; throws StoreUnavailable.
  virtual void create(const Report& report) = 0;
  // Every report of a user, oldest first (pages through the store internally).
  virtual std::vector<Report> list_by_user(const std::string& user_id) = 0;
  virtual std::optional<Report> get(const std::string& report_id) = 0;
  // Sets the status to `to` only if the report belongs to `user_id` and its status is still
  // `from` (a conditional write: of two racing transitions from one state, one wins).
  virtual TransitionOutcome transition(const std::string& user_id, const std::string& report_id,
                                       ReportStatus from, ReportStatus to,
                                       std::int64_t updated_ms) = 0;
  virtual void mark_event_published(const std::string& report_id, std::int64_t updated_ms) = 0;
  virtual std::vector<Report> list_event_pending() = 0;
  // Cheap check that the store answers, for /readyz.
  virtual bool ping() = 0;
};

}  // namespace ssehub::store
