#pragma once

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <sys/socket.h>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <initializer_list>
#include <algorithm>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace ssehub::store::dynamodb::testing_support {

// An HTTP/1.1 server on 127.0.0.1 that answers each request with the next scripted reply, so
// clients can be tested against answers a real DynamoDB gives only under load or failure.
// Once the script is used up it repeats the last reply.
class ScriptedHttpServer {
 public:
  struct Reply {
    unsigned status = 200;
    std::string body = "{}";
    std::vector<std::pair<std::string, std::string>> headers;
    bool close_after = false;   // answer with Connection: close and close
    bool never_answer = false;  // read the request, then stay silent until the server stops
  };

  struct SeenRequest {
    std::string target_header;  // X-Amz-Target
    std::string authorization;
    std::string body;
    int connection = 0;  // which accepted connection carried it, from 1
  };

  static Reply reply(unsigned status, std::string body,
                     std::vector<std::pair<std::string, std::string>> headers = {}) {
    return {status, std::move(body), std::move(headers), false, false};
  }
  static Reply reply_then_close(unsigned status, std::string body) {
    return {status, std::move(body), {}, true, false};
  }
  static Reply silence() { return {200, "", {}, false, true}; }

  ScriptedHttpServer(std::initializer_list<Reply> script)
      : script_(script), acceptor_(io_, {boost::asio::ip::make_address("127.0.0.1"), 0}) {
    port_ = acceptor_.local_endpoint().port();
    accept_thread_ = std::thread([this] { accept_loop(); });
  }

  ScriptedHttpServer(const ScriptedHttpServer&) = delete;
  ScriptedHttpServer& operator=(const ScriptedHttpServer&) = delete;

  ~ScriptedHttpServer() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
      for (int fd : open_sockets_) ::shutdown(fd, SHUT_RDWR);
    }
    stopped_.notify_all();
    // Wakes the blocking accept().
    boost::asio::io_context io;
    boost::asio::ip::tcp::socket poke(io);
    boost::system::error_code ignored;
    poke.connect({boost::asio::ip::make_address("127.0.0.1"), port_}, ignored);
    accept_thread_.join();
    for (auto& thread : connection_threads_) thread.join();
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  std::vector<SeenRequest> requests() const {
    std::lock_guard lock(mutex_);
    return seen_;
  }

  int connections() const {
    std::lock_guard lock(mutex_);
    return connections_;
  }

 private:
  void accept_loop() {
    for (;;) {
      boost::asio::ip::tcp::socket socket(io_);
      boost::system::error_code ec;
      acceptor_.accept(socket, ec);
      std::lock_guard lock(mutex_);
      if (stopping_) return;
      if (ec) continue;
      const int number = ++connections_;
      open_sockets_.push_back(socket.native_handle());
      connection_threads_.emplace_back(
          [this, number, s = std::move(socket)]() mutable { serve(std::move(s), number); });
    }
  }

  void serve(boost::asio::ip::tcp::socket socket, int connection) {
    namespace http = boost::beast::http;
    // Forgets the descriptor before the socket closes, so the destructor never shuts down a
    // number the process has since reused for another socket.
    struct Forget {
      ScriptedHttpServer& server;
      int fd;
      ~Forget() {
        std::lock_guard lock(server.mutex_);
        std::erase(server.open_sockets_, fd);
      }
    } forget{*this, socket.native_handle()};
    boost::beast::flat_buffer buffer;
    for (;;) {
      http::request<http::string_body> request;
      boost::system::error_code ec;
      http::read(socket, buffer, request, ec);
      if (ec) return;
      Reply reply;
      {
        std::lock_guard lock(mutex_);
        seen_.push_back({std::string(request["X-Amz-Target"]),
                         std::string(request["Authorization"]), request.body(), connection});
        reply = script_.empty() ? Reply{} : script_[std::min(next_, script_.size() - 1)];
        ++next_;
      }
      if (reply.never_answer) {
        std::unique_lock lock(mutex_);
        stopped_.wait(lock, [this] { return stopping_; });
        return;
      }
      http::response<http::string_body> response{static_cast<http::status>(reply.status), 11};
      response.set(http::field::content_type, "application/x-amz-json-1.0");
      for (const auto& [name, value] : reply.headers) response.set(name, value);
      response.body() = reply.body;
      response.keep_alive(!reply.close_after);
      response.prepare_payload();
      http::write(socket, response, ec);
      if (ec || reply.close_after) return;
    }
  }

  std::vector<Reply> script_;
  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  unsigned short port_ = 0;
  std::thread accept_thread_;

  mutable std::mutex mutex_;
  std::condition_variable stopped_;
  bool stopping_ = false;
  std::size_t next_ = 0;
  int connections_ = 0;
  std::vector<int> open_sockets_;
  std::vector<std::thread> connection_threads_;
  std::vector<SeenRequest> seen_;
};

}  // namespace ssehub::store::dynamodb::testing_support
