#pragma once

#include "history/history.hpp"
#include "hub/hub.hpp"

#include <vector>

namespace ssehub::sse {

// The edge from commit to streams: frames each committed event once and hands the frames to
// the hub, which shares each frame with every stream of its user. Runs where history commits
// (its writer thread, or the publishing thread under history's lock), in commit order.
class Fanout final : public history::CommitListener {
 public:
  explicit Fanout(hub::Hub& hub) : hub_(hub) {}
  FannedOut on_commit(std::vector<history::StoredEventPtr> events) override;
  void after_delivered(std::uint64_t lagging, boost::asio::any_io_executor then_on,
                       std::function<void()> then) override;

 private:
  hub::Hub& hub_;
};

}  // namespace ssehub::sse
