#pragma once

#include <nghttp2/nghttp2.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace loadgen {

// One HTTP/2 client connection (h2c with prior knowledge) over a connected non-blocking socket,
// with nghttp2 doing the framing, HPACK and flow control. Each request carries a pointer that
// the callbacks get back (the load generator's stream or publisher); a request reset or
// forgotten by forget() gets no more callbacks.
class H2Client {
 public:
  class Handler {
   public:
    virtual void on_status(void* request, int status) = 0;
    virtual void on_response_head(void* request) = 0;  // the response's headers are complete
    virtual void on_data(void* request, const char* data, size_t len) = 0;
    virtual void on_close(void* request, uint32_t error_code) = 0;

   protected:
    ~Handler() = default;
  };

  // A request body sent from memory; it must outlive the request.
  struct Body {
    const std::string* text = nullptr;
    size_t sent = 0;
  };

  H2Client() = default;
  ~H2Client() { stop(); }
  H2Client(const H2Client&) = delete;
  H2Client& operator=(const H2Client&) = delete;

  // Starts the session on fd (not owned): queues the preface and our SETTINGS.
  void start(int fd, Handler& handler);
  // Deletes the session without callbacks; the owner closes the socket.
  void stop();
  bool active() const { return session_ != nullptr; }

  // Queues a request; returns its stream id, or a negative nghttp2 error code.
  int32_t submit(const nghttp2_nv* headers, size_t count, Body* body, void* request);
  // Resets a stream (CANCEL) and forgets its request.
  void reset(int32_t stream_id);

  // Reads what the socket has (into buf) and writes what is queued. False once the
  // connection is over: closed, broken, or neither side wants anything more (GOAWAY).
  // hangup: epoll reported a peer close or error, so read until recv() says so.
  bool on_io(char* buf, size_t cap, bool hangup);
  // Writes what is queued; false once the connection is over.
  bool flush();

 private:
  struct Callbacks;
  bool alive() const;

  nghttp2_session* session_ = nullptr;
  Handler* handler_ = nullptr;
  int fd_ = -1;
  bool broken_ = false;
};

}  // namespace loadgen
