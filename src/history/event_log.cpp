#include "history/event_log.hpp"

#include <sqlite3.h>

namespace ssehub::history {

std::size_t payload_size(const StoredEvent& event) {
  return event.type.size() + event.data.size();
}

EventLogMetrics::EventLogMetrics(metrics::Registry& registry)
    : wal_frames_behind(registry.gauge(
          "ssehub_history_wal_frames_behind",
          "History WAL frames the last checkpoint could not copy into the database.")),
      memory_bytes(registry.gauge(
          "ssehub_history_memory_bytes",
          "Bytes the in-memory history holds, bookkeeping included (--history-store memory).")) {
  // Every connection of the process counts, the report store's too: shown whichever log runs.
  registry.collect([](std::string& out) {
    metrics::render_value(out, "ssehub_sqlite_memory_bytes", "gauge",
                          "Memory SQLite holds (page caches of every connection, statements).",
                          static_cast<double>(sqlite3_memory_used()));
  });
}

}  // namespace ssehub::history
