#include "h2_client.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <new>
#include <string_view>

namespace loadgen {

namespace {

// Windows as large as a browser's, so that flow control never paces the run: the load
// generator consumes every byte at once.
constexpr uint32_t kStreamWindow = 1 << 20;
constexpr int32_t kConnectionWindow = 16 << 20;

}  // namespace

// nghttp2's callbacks; the session's user data is the H2Client.
struct H2Client::Callbacks {
  static H2Client& client(void* user_data) { return *static_cast<H2Client*>(user_data); }

  static ssize_t send(nghttp2_session*, const uint8_t* data, size_t len, int, void* user_data) {
    H2Client& c = client(user_data);
    for (;;) {
      ssize_t n = ::send(c.fd_, data, len, MSG_NOSIGNAL);
      if (n >= 0) return n;
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return NGHTTP2_ERR_WOULDBLOCK;
      c.broken_ = true;
      return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
  }

  static bool is_response_head(const nghttp2_frame* frame) {
    return frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_RESPONSE;
  }

  static int header(nghttp2_session* session, const nghttp2_frame* frame, const uint8_t* name,
                    size_t namelen, const uint8_t* value, size_t valuelen, uint8_t,
                    void* user_data) {
    if (!is_response_head(frame)) return 0;
    if (std::string_view(reinterpret_cast<const char*>(name), namelen) != ":status") return 0;
    void* request = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
    if (request == nullptr) return 0;
    int status = 0;
    for (size_t i = 0; i < valuelen; ++i) {
      if (value[i] < '0' || value[i] > '9') return 0;  // nghttp2 rejects such a head itself
      status = status * 10 + (value[i] - '0');
    }
    client(user_data).handler_->on_status(request, status);
    return 0;
  }

  static int frame_recv(nghttp2_session* session, const nghttp2_frame* frame, void* user_data) {
    if (!is_response_head(frame)) return 0;
    void* request = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
    if (request != nullptr) client(user_data).handler_->on_response_head(request);
    return 0;
  }

  static int data_chunk(nghttp2_session* session, uint8_t, int32_t stream_id, const uint8_t* data,
                        size_t len, void* user_data) {
    void* request = nghttp2_session_get_stream_user_data(session, stream_id);
    if (request != nullptr)
      client(user_data).handler_->on_data(request, reinterpret_cast<const char*>(data), len);
    return 0;
  }

  static int stream_close(nghttp2_session* session, int32_t stream_id, uint32_t error_code,
                          void* user_data) {
    void* request = nghttp2_session_get_stream_user_data(session, stream_id);
    if (request != nullptr) client(user_data).handler_->on_close(request, error_code);
    return 0;
  }

  static ssize_t read_body(nghttp2_session*, int32_t, uint8_t* buf, size_t length,
                           uint32_t* flags, nghttp2_data_source* source, void*) {
    auto* body = static_cast<Body*>(source->ptr);
    size_t n = std::min(length, body->text->size() - body->sent);
    std::memcpy(buf, body->text->data() + body->sent, n);
    body->sent += n;
    if (body->sent == body->text->size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
    return ssize_t(n);
  }

  static nghttp2_session_callbacks* all() {
    static nghttp2_session_callbacks* callbacks = [] {
      nghttp2_session_callbacks* c = nullptr;
      if (nghttp2_session_callbacks_new(&c) != 0) throw std::bad_alloc();
      nghttp2_session_callbacks_set_send_callback(c, send);
      nghttp2_session_callbacks_set_on_header_callback(c, header);
      nghttp2_session_callbacks_set_on_frame_recv_callback(c, frame_recv);
      nghttp2_session_callbacks_set_on_data_chunk_recv_callback(c, data_chunk);
      nghttp2_session_callbacks_set_on_stream_close_callback(c, stream_close);
      return c;
    }();
    return callbacks;
  }
};

void H2Client::start(int fd, Handler& handler) {
  stop();
  fd_ = fd;
  handler_ = &handler;
  broken_ = false;
  if (nghttp2_session_client_new(&session_, Callbacks::all(), this) != 0) throw std::bad_alloc();
  nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, kStreamWindow},
  };
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, 2);
  nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0, kConnectionWindow);
}

void H2Client::stop() {
  if (session_ != nullptr) nghttp2_session_del(session_);
  session_ = nullptr;
  fd_ = -1;
}

int32_t H2Client::submit(const nghttp2_nv* headers, size_t count, Body* body, void* request) {
  if (body == nullptr)
    return nghttp2_submit_request(session_, nullptr, headers, count, nullptr, request);
  body->sent = 0;
  nghttp2_data_provider provider{};
  provider.source.ptr = body;
  provider.read_callback = Callbacks::read_body;
  return nghttp2_submit_request(session_, nullptr, headers, count, &provider, request);
}

void H2Client::reset(int32_t stream_id) {
  nghttp2_session_set_stream_user_data(session_, stream_id, nullptr);
  nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, stream_id, NGHTTP2_CANCEL);
}

bool H2Client::alive() const {
  return !broken_ &&
         (nghttp2_session_want_read(session_) != 0 || nghttp2_session_want_write(session_) != 0);
}

bool H2Client::flush() {
  if (session_ == nullptr || broken_) return false;
  if (nghttp2_session_send(session_) != 0) broken_ = true;
  return alive();
}

bool H2Client::on_io(char* buf, size_t cap, bool hangup) {
  if (session_ == nullptr || broken_) return false;
  for (;;) {
    ssize_t n = ::recv(fd_, buf, cap, 0);
    if (n > 0) {
      if (nghttp2_session_mem_recv(session_, reinterpret_cast<const uint8_t*>(buf), size_t(n)) <
          0) {
        broken_ = true;
        return false;
      }
      // A short read emptied the socket; a later arrival raises a new edge. Only a peer
      // close needs the extra recv to be seen.
      if (size_t(n) < cap && !hangup) break;
    } else if (n == 0) {
      broken_ = true;
      return false;
    } else if (errno == EINTR) {
      continue;
    } else if (errno == EAGAIN) {
      break;
    } else {
      broken_ = true;
      return false;
    }
  }
  return flush();
}

}  // namespace loadgen
