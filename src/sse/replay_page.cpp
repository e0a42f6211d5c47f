#include "sse/replay_page.hpp"

#include "core/run_on.hpp"
#include "sse/event_frames.hpp"

namespace ssehub::sse {

ReplayPage frame_replay(const std::string& stream, const history::Replay& replay) {
  ReplayPage page;
  page.events.reserve(replay.events.size() + 1);
  if (replay.reset) {
    page.reset = true;
    page.events.push_back(frame_reset(stream, *replay.reset));
  }
  for (const history::StoredEventPtr& event : replay.events)
    page.events.push_back(frame_replayed(*event));
  page.last_id = replay.last_id;
  page.more = replay.more;
  return page;
}

bool read_replay_page(history::History& history, std::string stream, core::ResumePoint from,
                      boost::asio::any_io_executor executor, PageDone done, std::size_t max_bytes) {
  // No executor for history: the answer comes on its reader thread (or, for a log without
  // one, here), is framed there, and then crosses to the stream's thread.
  auto on_replay = [stream, executor,
                    done = std::move(done)](std::shared_ptr<history::Replay> replay) mutable {
    std::shared_ptr<ReplayPage> page;
    if (replay) page = std::make_shared<ReplayPage>(frame_replay(stream, *replay));
    core::run_on(executor, [done = std::move(done), page = std::move(page)]() mutable {
      done(std::move(page));
    });
  };
  return history.replay(std::move(stream), from, {}, std::move(on_replay),
                        {.max_bytes = max_bytes, .size_of = &frame_size});
}

}  // namespace ssehub::sse
