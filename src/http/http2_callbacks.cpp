// nghttp2's callbacks into the HTTP/2 connection: a request's head, fields and body as they
// arrive, a stream's close, and the bodies nghttp2 asks for as the flow-control window allows.
#include "http/http2_connection.hpp"
#include "http/responses.hpp"

#include <nghttp2/nghttp2.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

namespace ssehub::http {

namespace beast = boost::beast;
using boost::asio::ip::tcp;

// RFC 9113 §5.1.1: each new stream id of a client is above all it used before, and a HEADERS
// on a lower id that was never opened is a connection error (PROTOCOL_ERROR). nghttp2 ignores
// such a frame instead, as it cannot tell a never-used id from a closed stream it has forgotten
// (a client may still send trailers on a stream the server reset). So the session remembers
// the last request ids it saw and ends the connection for a lower id that is none of them and
// not open; nghttp2 answers the callback's failure with GOAWAY (see receive()).
template <class Stream>
int Http2Session<Stream>::on_begin_frame(nghttp2_session* session, const nghttp2_frame_hd* hd,
                                         void* user_data) {
  if (hd->type != NGHTTP2_HEADERS || hd->stream_id % 2 == 0) return 0;  // nghttp2 judges those
  auto& self = *static_cast<Http2Session*>(user_data);
  auto& recent = self.recent_request_ids_;
  if (hd->stream_id > self.highest_request_id_) {
    self.highest_request_id_ = hd->stream_id;
    recent[self.next_recent_++ % recent.size()] = hd->stream_id;
    return 0;
  }
  if (nghttp2_session_find_stream(session, hd->stream_id) ||
      std::find(recent.begin(), recent.end(), hd->stream_id) != recent.end())
    return 0;  // trailers of a stream that is open or just ended
  spdlog::debug("http2: HEADERS on stream {}, below {} and never opened", hd->stream_id,
                self.highest_request_id_);
  return NGHTTP2_ERR_CALLBACK_FAILURE;
}

template <class Stream>
int Http2Session<Stream>::on_begin_headers(nghttp2_session*, const nghttp2_frame* frame,
                                           void* user_data) {
  auto& self = *static_cast<Http2Session*>(user_data);
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  auto stream = std::make_unique<StreamState>();
  stream->id = frame->hd.stream_id;
  stream->begun = std::chrono::steady_clock::now();
  stream->request = std::make_unique<StreamRequest>();
  stream->request->raw.version(20);
  self.streams_[frame->hd.stream_id] = std::move(stream);
  return 0;
}

template <class Stream>
int Http2Session<Stream>::on_header(nghttp2_session*, const nghttp2_frame* frame,
                                    const std::uint8_t* name, std::size_t namelen,
                                    const std::uint8_t* value, std::size_t valuelen, std::uint8_t,
                                    void* user_data) {
  auto& self = *static_cast<Http2Session*>(user_data);
  StreamState* stream = self.find(frame->hd.stream_id);
  if (!stream || !stream->request || frame->hd.type != NGHTTP2_HEADERS) return 0;  // trailers are dropped
  StreamRequest& request = *stream->request;
  // RFC 9113 §6.5.2 counts 32 bytes per field. Past the limit the fields are not kept (an HPACK
  // bomb expands to nothing held), and the request is answered 431 once its head is whole.
  request.header_bytes += namelen + valuelen + 32;
  if (request.header_bytes > self.context_.limits.max_header_bytes) return 0;
  const std::string_view field_name(reinterpret_cast<const char*>(name), namelen);
  const std::string_view field_value(reinterpret_cast<const char*>(value), valuelen);
  if (field_name == ":method") {
    request.raw.method_string(field_value);
    stream->head = request.raw.method() == beast_http::verb::head;
  } else if (field_name == ":path") {
    request.path = field_value;
  } else if (field_name == ":authority") {
    request.authority = field_value;
  } else if (field_name.starts_with(':')) {
    // :scheme (nghttp2 has checked the set of pseudo-header fields)
  } else if (field_name == "cookie" && request.raw.count(beast_http::field::cookie) > 0) {
    // Cookies may come as one field each; they are one field again (RFC 9113 §8.2.3).
    std::string joined(request.raw[beast_http::field::cookie]);
    joined += "; ";
    joined += field_value;
    request.raw.set(beast_http::field::cookie, joined);
  } else {
    request.raw.insert(field_name, field_value);
  }
  return 0;
}

template <class Stream>
int Http2Session<Stream>::on_frame_recv(nghttp2_session*, const nghttp2_frame* frame,
                                        void* user_data) {
  auto& self = *static_cast<Http2Session*>(user_data);
  if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) return 0;
  StreamState* stream = self.find(frame->hd.stream_id);
  if (!stream) return 0;
  if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST)
    self.on_head(*stream);
  if ((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) && stream->admitted() && !stream->answered)
    self.dispatch(*stream);
  return 0;
}

template <class Stream>
int Http2Session<Stream>::on_data_chunk_recv(nghttp2_session*, std::uint8_t, std::int32_t stream_id,
                                             const std::uint8_t* data, std::size_t len,
                                             void* user_data) {
  auto& self = *static_cast<Http2Session*>(user_data);
  StreamState* stream = self.find(stream_id);
  if (!stream || !stream->admitted()) return 0;
  StreamRequest& request = *stream->request;
  auto& body = request.raw.body();
  if (body.size() + len > request.body_limit) {
    self.refuse(*stream,
                json_error(beast_http::status::payload_too_large, "body_too_large",
                           body_too_large_detail(request.body_limit)),
                false);
    return 0;
  }
  if (!request.body_share) request.body_share = self.context_.bodies.share();
  if (!request.body_share->grow_to(body.size() + len)) {
    self.metrics_.reject(RejectReason::BodyMemory);
    self.refuse(*stream, bodies_over_budget(), true);
    return 0;
  }
  body.append(reinterpret_cast<const char*>(data), len);
  return 0;
}

template <class Stream>
int Http2Session<Stream>::on_stream_close(nghttp2_session*, std::int32_t stream_id, std::uint32_t,
                                          void* user_data) {
  auto& self = *static_cast<Http2Session*>(user_data);
  const auto found = self.streams_.find(stream_id);
  if (found == self.streams_.end()) return 0;
  StreamState& stream = *found->second;
  if (stream.done)
    self.post([done = std::move(stream.done)] { done(boost::asio::error::connection_reset); });
  if (stream.on_close) self.post(std::move(stream.on_close));
  self.streams_.erase(found);
  return 0;
}

template <class Stream>
ssize_t Http2Session<Stream>::read_body(nghttp2_session*, std::int32_t stream_id, std::uint8_t* buf,
                                        std::size_t length, std::uint32_t* data_flags,
                                        nghttp2_data_source*, void* user_data) {
  auto& self = *static_cast<Http2Session*>(user_data);
  StreamState* stream = self.find(stream_id);
  if (!stream) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  if (!stream->event_stream) {
    const std::size_t n = std::min(length, stream->body.size() - stream->body_sent);
    std::memcpy(buf, stream->body.data() + stream->body_sent, n);
    stream->body_sent += n;
    if (stream->body_sent == stream->body.size()) {
      *data_flags |= NGHTTP2_DATA_FLAG_EOF;
      std::string().swap(stream->body);
      stream->answering.reset();
    }
    return static_cast<ssize_t>(n);
  }
  // An event stream: copies what its session wrote, as far as the window allows, and waits
  // (deferred) when nothing is left. Its session hears that the write is done only once all
  // of it is taken, so a client whose window stays shut fills the session's bounded queue.
  std::size_t n = 0;
  while (n < length && stream->pending_index < stream->pending.size()) {
    const auto& piece = stream->pending[stream->pending_index];
    const std::size_t take = std::min(length - n, piece.size() - stream->pending_offset);
    std::memcpy(buf + n, static_cast<const char*>(piece.data()) + stream->pending_offset, take);
    n += take;
    stream->pending_offset += take;
    if (stream->pending_offset == piece.size()) {
      ++stream->pending_index;
      stream->pending_offset = 0;
    }
  }
  if (stream->pending_index == stream->pending.size() && stream->done) {
    stream->pending.clear();
    stream->pending_index = 0;
    self.post([done = std::move(stream->done)] { done({}); });
    stream->done = nullptr;
  }
  if (n == 0) return NGHTTP2_ERR_DEFERRED;
  return static_cast<ssize_t>(n);
}

// Compiled here for both transports; the rest of Http2Session is compiled where it is defined.
template int Http2Session<beast::tcp_stream>::on_begin_frame(nghttp2_session*,
                                                           const nghttp2_frame_hd*, void*);
template int Http2Session<beast::tcp_stream>::on_begin_headers(nghttp2_session*,
    const nghttp2_frame*, void*);
template int Http2Session<beast::tcp_stream>::on_header(nghttp2_session*, const nghttp2_frame*,
                                                        const std::uint8_t*, std::size_t,
                                                        const std::uint8_t*, std::size_t,
                                                        std::uint8_t, void*);
template int Http2Session<beast::tcp_stream>::on_frame_recv(nghttp2_session*, const nghttp2_frame*,
                                                            void*);
template int Http2Session<beast::tcp_stream>::on_data_chunk_recv(nghttp2_session*, std::uint8_t,
    std::int32_t, const std::uint8_t*, std::size_t, void*);
template int Http2Session<beast::tcp_stream>::on_stream_close(nghttp2_session*, std::int32_t,
    std::uint32_t, void*);
template ssize_t Http2Session<beast::tcp_stream>::read_body(nghttp2_session*, std::int32_t,
                                                            std::uint8_t*, std::size_t,
                                                            std::uint32_t*, nghttp2_data_source*,
                                                            void*);
template int Http2Session<TlsStream>::on_begin_frame(nghttp2_session*, const nghttp2_frame_hd*,
                                                    void*);
template int Http2Session<TlsStream>::on_begin_headers(nghttp2_session*, const nghttp2_frame*,
                                                       void*);
template int Http2Session<TlsStream>::on_header(nghttp2_session*, const nghttp2_frame*,
                                                const std::uint8_t*, std::size_t,
                                                const std::uint8_t*, std::size_t, std::uint8_t,
                                                void*);
template int Http2Session<TlsStream>::on_frame_recv(nghttp2_session*, const nghttp2_frame*, void*);
template int Http2Session<TlsStream>::on_data_chunk_recv(nghttp2_session*, std::uint8_t,
                                                         std::int32_t, const std::uint8_t*,
                                                         std::size_t, void*);
template int Http2Session<TlsStream>::on_stream_close(nghttp2_session*, std::int32_t, std::uint32_t,
                                                      void*);
template ssize_t Http2Session<TlsStream>::read_body(nghttp2_session*, std::int32_t, std::uint8_t*,
                                                    std::size_t, std::uint32_t*,
                                                    nghttp2_data_source*, void*);

}  // namespace ssehub::http
