#include "http/exchange.hpp"

#include "http/http_session.hpp"
#include "http/io_pool.hpp"
#include "http/stream_connection.hpp"

#include <boost/asio/post.hpp>

namespace ssehub::http {

Exchange::Exchange(std::shared_ptr<HttpConnection> connection, Request request, unsigned thread,
                   std::string allowed_origin)
    : connection_(std::move(connection)),
      request_(std::move(request)),
      thread_(thread),
      allowed_origin_(std::move(allowed_origin)) {}

boost::asio::any_io_executor Exchange::executor() const { return connection_->executor(); }

bool Exchange::secure() const { return connection_->secure(); }

bool Exchange::http2() const { return connection_->http2(); }

void Exchange::respond(Response response, Outcome outcome) {
  const bool counted = outcome == Outcome::NotARefusal;  // nothing to count
  if (IoPool::current_index() == thread_) {
    connection_->respond(std::move(response), counted);
  } else {
    boost::asio::post(connection_->executor(),
                      [connection = connection_, response = std::move(response), counted]() mutable {
                        connection->respond(std::move(response), counted);
                      });
  }
}

StreamConnection Exchange::take_connection() { return connection_->hand_over(); }

std::shared_ptr<void> Exchange::connection_slot() const { return connection_->client_slot(); }

}  // namespace ssehub::http
