// An event stream over HTTP/2: the stream handed over by its Exchange, its response head, the
// writes nghttp2 takes as the window allows, its reset, and the connection's GOAWAY.
#include "http/http2_connection.hpp"

#include <boost/asio/error.hpp>
#include <nghttp2/nghttp2.h>

#include <functional>
#include <memory>
#include <vector>

namespace ssehub::http {

namespace beast = boost::beast;
using boost::asio::ip::tcp;

namespace {

// An event stream's hold on its HTTP/2 stream. It does not keep the connection alive: when
// the connection is gone, writes fail and nothing else happens.
template <class Stream>
class Http2EventStream final : public Http2Stream {
 public:
  Http2EventStream(std::weak_ptr<Http2Session<Stream>> session, std::int32_t id,
                   boost::asio::any_io_executor executor)
      : session_(std::move(session)), id_(id), executor_(std::move(executor)) {}

  void open(Response head) override {
    if (auto session = session_.lock()) session->open_event_stream(id_, std::move(head));
  }
  void watch(std::function<void()> on_close) override {
    if (auto session = session_.lock()) return session->watch_event_stream(id_, std::move(on_close));
    boost::asio::post(executor_, std::move(on_close));
  }
  void write(std::vector<boost::asio::const_buffer> buffers,
             std::function<void(boost::system::error_code)> done) override {
    if (auto session = session_.lock()) return session->write_event_stream(id_, std::move(buffers), std::move(done));
    boost::asio::post(executor_, [done = std::move(done)] { done(boost::asio::error::connection_aborted); });
  }
  void reset() override {
    if (auto session = session_.lock()) session->reset_stream(id_);
  }
  void go_away() override {
    if (auto session = session_.lock()) session->go_away();
  }

 private:
  std::weak_ptr<Http2Session<Stream>> session_;
  std::int32_t id_;
  boost::asio::any_io_executor executor_;
};

}  // namespace

template <class Stream>
std::shared_ptr<Http2Stream> Http2Session<Stream>::hand_over(std::int32_t id) {
  if (StreamState* stream = find(id)) stream->answering.reset();
  return std::make_shared<Http2EventStream<Stream>>(this->weak_from_this(), id, executor());
}

template <class Stream>
void Http2Session<Stream>::open_event_stream(std::int32_t id, Response head) {
  StreamState* stream = find(id);
  if (!stream || stream->answered || state_ == State::Closed) return;
  stream->event_stream = true;
  submit(*stream, std::move(head), false);
  do_write();
}

template <class Stream>
void Http2Session<Stream>::watch_event_stream(std::int32_t id, std::function<void()> on_close) {
  StreamState* stream = find(id);
  if (!stream || state_ == State::Closed) return post(std::move(on_close));
  stream->on_close = std::move(on_close);
}

template <class Stream>
void Http2Session<Stream>::write_event_stream(std::int32_t id,
                                              std::vector<boost::asio::const_buffer> buffers,
                                              std::function<void(boost::system::error_code)> done) {
  StreamState* stream = find(id);
  if (!stream || state_ == State::Closed)
    return post([done = std::move(done)] { done(boost::asio::error::connection_reset); });
  if (buffers.empty()) return post([done = std::move(done)] { done({}); });
  stream->pending = std::move(buffers);
  stream->pending_index = 0;
  stream->pending_offset = 0;
  stream->done = std::move(done);
  nghttp2_session_resume_data(session_, id);
  do_write();
}

template <class Stream>
void Http2Session<Stream>::reset_stream(std::int32_t id) {
  StreamState* stream = find(id);
  if (!stream || state_ == State::Closed) return;
  // The event stream ended it, so it is not told. The watch may hold the last reference to
  // the event stream's session, which is inside its close() now: it goes later.
  if (stream->on_close) post([expired = std::move(stream->on_close)] {});
  stream->on_close = nullptr;
  nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
  do_write();
}

template <class Stream>
void Http2Session<Stream>::go_away() {
  if (going_away_ || state_ == State::Closed) return;
  going_away_ = true;
  // Streams already open are answered (or reset by their sessions); no new one is taken.
  nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(session_),
                        NGHTTP2_NO_ERROR, nullptr, 0);
  do_write();
}

// Compiled here for both transports; the rest of Http2Session is compiled where it is defined.
template std::shared_ptr<Http2Stream> Http2Session<beast::tcp_stream>::hand_over(std::int32_t);
template void Http2Session<beast::tcp_stream>::open_event_stream(std::int32_t, Response);
template void Http2Session<beast::tcp_stream>::watch_event_stream(std::int32_t,
    std::function<void()>);
template void Http2Session<beast::tcp_stream>::write_event_stream(std::int32_t,
    std::vector<boost::asio::const_buffer>, std::function<void(boost::system::error_code)>);
template void Http2Session<beast::tcp_stream>::reset_stream(std::int32_t);
template void Http2Session<beast::tcp_stream>::go_away();
template std::shared_ptr<Http2Stream> Http2Session<TlsStream>::hand_over(std::int32_t);
template void Http2Session<TlsStream>::open_event_stream(std::int32_t, Response);
template void Http2Session<TlsStream>::watch_event_stream(std::int32_t, std::function<void()>);
template void Http2Session<TlsStream>::write_event_stream(std::int32_t,
    std::vector<boost::asio::const_buffer>, std::function<void(boost::system::error_code)>);
template void Http2Session<TlsStream>::reset_stream(std::int32_t);
template void Http2Session<TlsStream>::go_away();

}  // namespace ssehub::http
