// The HTTP/2 connection (Http2Session) and the state of its streams, shared by the http2_*.cpp
// files that define its parts.
#pragma once

#include "http/http2_session.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <nghttp2/nghttp2.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <vector>

namespace ssehub::http {

template <class Stream>
constexpr bool kIsTls = std::is_same_v<Stream, TlsStream>;

// What one read of a connection takes at most: a TLS record's worth.
using Http2ReadBuffer = std::array<std::uint8_t, 16 * 1024>;

// A stream's request while it arrives: released once it is dispatched or refused, so that an
// event stream, which lives for hours, keeps only the StreamState below.
struct StreamRequest {
  RawRequest raw;
  std::string authority;     // :authority
  std::string path;          // :path
  std::size_t header_bytes = 0;  // as SETTINGS_MAX_HEADER_LIST_SIZE counts them
  std::optional<Target> target;
  std::size_t body_limit = 0;
  std::shared_ptr<BodyBudget::Share> body_share;
  bool admitted = false;    // the head passed its checks
};

// One stream of the connection, from its HEADERS to its close.
struct StreamState {
  std::int32_t id = 0;
  std::unique_ptr<StreamRequest> request;  // until dispatched; none: refused, DATA is dropped
  std::string allowed_origin;
  std::chrono::steady_clock::time_point begun;  // its HEADERS arrived
  bool head = false;        // a HEAD request: answered without a body
  bool dispatched = false;  // the request is whole and with its handler
  bool answered = false;    // a response was submitted (or the stream handed over)
  std::optional<core::InProgress::Hold> answering;
  // A plain response's body, handed to nghttp2 as the window allows.
  std::string body;
  std::size_t body_sent = 0;
  // An event stream: what its session asked to write and has not been taken yet.
  bool event_stream = false;
  std::vector<boost::asio::const_buffer> pending;
  std::size_t pending_index = 0;
  std::size_t pending_offset = 0;
  std::function<void(boost::system::error_code)> done;
  std::function<void()> on_close;

  bool admitted() const { return request && request->admitted; }
};

template <class Stream>
class Http2Session final : public std::enable_shared_from_this<Http2Session<Stream>> {
 public:
  Http2Session(Stream stream, const HttpContext& context, unsigned thread,
               ClientLimits::Slot client_slot);
  ~Http2Session();
  void start(std::string_view received);

  // What an Exchange and an event stream ask of one stream; on the connection's thread.
  boost::asio::any_io_executor executor() { return stream_.get_executor(); }
  void respond(std::int32_t id, Response response, bool counted);
  std::shared_ptr<Http2Stream> hand_over(std::int32_t id);
  void open_event_stream(std::int32_t id, Response head);
  void watch_event_stream(std::int32_t id, std::function<void()> on_close);
  void write_event_stream(std::int32_t id, std::vector<boost::asio::const_buffer> buffers,
                          std::function<void(boost::system::error_code)> done);
  void reset_stream(std::int32_t id);
  void go_away();
  const ClientLimits::Slot& client_slot() const { return client_slot_; }

 private:
  enum class State { Open, Closed };

  boost::beast::tcp_stream& tcp_layer() { return boost::beast::get_lowest_layer(stream_); }
  StreamState* find(std::int32_t id) {
    const auto found = streams_.find(id);
    return found == streams_.end() ? nullptr : found->second.get();
  }

  // An idle connection holds no read buffer: it waits until the socket is readable, then reads
  // into a buffer lent by its thread for that one read (see ReadBuffers in http2_session.cpp).
  void do_read();
  void read_now();
  void on_read(boost::beast::error_code ec, std::size_t bytes);
  // Feeds received bytes to nghttp2; false when the connection must end.
  bool receive(const std::uint8_t* data, std::size_t size);
  // Writes what nghttp2 has to send; ends the connection when neither side wants more.
  void do_write();
  void on_write(boost::beast::error_code ec);
  void arm_idle_timer();
  void close();
  void abort();

  void on_head(StreamState& stream);
  void dispatch(StreamState& stream);
  void refuse(StreamState& stream, Response response, bool counted);
  void submit(StreamState& stream, Response response, bool with_body);
  template <class Fn>
  void post(Fn fn) {
    boost::asio::post(executor(), std::move(fn));
  }

  // nghttp2's callbacks; user_data is the session.
  static int on_begin_frame(nghttp2_session*, const nghttp2_frame_hd* hd, void* user_data);
  static int on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* user_data);
  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name,
                       std::size_t namelen, const std::uint8_t* value, std::size_t valuelen,
                       std::uint8_t flags, void* user_data);
  static int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user_data);
  static int on_data_chunk_recv(nghttp2_session*, std::uint8_t flags, std::int32_t stream_id,
                                const std::uint8_t* data, std::size_t len, void* user_data);
  static int on_stream_close(nghttp2_session*, std::int32_t stream_id, std::uint32_t error_code,
                             void* user_data);
  static ssize_t read_body(nghttp2_session*, std::int32_t stream_id, std::uint8_t* buf,
                           std::size_t length, std::uint32_t* data_flags, nghttp2_data_source*,
                           void* user_data);

  Stream stream_;
  const HttpContext& context_;
  HttpMetrics& metrics_;
  unsigned thread_;
  ClientLimits::Slot client_slot_;
  boost::asio::ip::tcp::endpoint remote_;
  nghttp2_session* session_ = nullptr;
  std::unordered_map<std::int32_t, std::unique_ptr<StreamState>> streams_;
  std::unique_ptr<Http2ReadBuffer> read_buffer_;  // only while reading
  std::string write_buffer_;  // only while writing
  bool write_in_flight_ = false;
  bool going_away_ = false;
  bool receiving_ = false;  // inside nghttp2_session_mem_recv
  // The client's request stream ids: the highest, and the last few (see on_begin_frame).
  std::int32_t highest_request_id_ = 0;
  std::array<std::int32_t, 16> recent_request_ids_{};
  std::uint8_t next_recent_ = 0;
  boost::asio::steady_timer idle_timer_;
  State state_ = State::Open;
};

}  // namespace ssehub::http
