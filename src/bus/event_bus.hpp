#pragma once

#include "history/history.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/post.hpp>

#include <string_view>
#include <vector>

namespace ssehub::bus {

// Dedupe keys of publishes that carry an Idempotency-Key start with this (see
// api/idempotency): a bus answers such a draft with the id it is stored under, which is the
// earlier event's id when the key was used before.
inline constexpr std::string_view kIdempotencyKeyPrefix = "idem:";

// How an accepted event reaches history and every node's streams. The local bus (default)
// appends straight to this process's history; a Kafka bus routes through a shared topic.
class EventBus {
 public:
  virtual ~EventBus() = default;
  // `done` runs on `executor` once the events are durable (the publisher may then say 2xx).
  virtual core::Admission publish(std::vector<core::EventDraft> drafts,
                                     boost::asio::any_io_executor executor,
                                     history::History::AppendDone done) = 0;
  virtual bool ready() const = 0;
};

// Single-process bus: history assigns ids and feeds the hub after each group commit.
class LocalBus final : public EventBus {
 public:
  explicit LocalBus(history::History& history) : history_(history) {}
  core::Admission publish(std::vector<core::EventDraft> drafts, boost::asio::any_io_executor executor,
                             history::History::AppendDone done) override {
    return history_.append(std::move(drafts), std::move(executor), std::move(done));
  }
  bool ready() const override { return history_.ready(); }

 private:
  history::History& history_;
};

}  // namespace ssehub::bus
