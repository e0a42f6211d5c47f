#include "http/lingering_close.hpp"


#include <array>

namespace ssehub::http {

namespace {

constexpr std::size_t kMaxDrainBytes = 16 * 1024 * 1024;

struct Drain {
  boost::beast::tcp_stream& stream;
  std::shared_ptr<void> owner;
  std::size_t drained = 0;
  std::array<char, 16 * 1024> scratch;  // only while draining, so never per idle connection
};

void read_more(std::shared_ptr<Drain> drain) {
  auto& stream = drain->stream;
  stream.async_read_some(boost::asio::buffer(drain->scratch),
                         [drain](boost::beast::error_code ec, std::size_t bytes) mutable {
                           drain->drained += bytes;
                           if (ec || drain->drained > kMaxDrainBytes) return drain->stream.close();
                           read_more(std::move(drain));
                         });
}

}  // namespace

void lingering_close(boost::beast::tcp_stream& stream, std::chrono::steady_clock::duration limit,
                     std::shared_ptr<void> owner) {
  if (!stream.socket().is_open()) return;
  boost::beast::error_code ignored;
  stream.socket().shutdown(boost::asio::ip::tcp::socket::shutdown_send, ignored);
  stream.expires_after(limit);  // bounds the whole drain, not each read
  read_more(std::make_shared<Drain>(Drain{stream, std::move(owner)}));
}

}  // namespace ssehub::http
