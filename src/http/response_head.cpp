#include "http/response_head.hpp"

namespace ssehub::http {

void write_head(const Response& response, bool keep_alive, std::string& out) {
  const bool without_length = response.result() == beast_http::status::no_content ||
                              response.result() == beast_http::status::not_modified;
  out.clear();
  out += "HTTP/1.1 ";
  out += std::to_string(response.result_int());
  out += ' ';
  out += response.reason();
  out += "\r\n";
  for (const auto& field : response) {
    const auto name = field.name();
    if (name == beast_http::field::server || (name == beast_http::field::connection && !keep_alive) ||
        (name == beast_http::field::content_length && without_length))
      continue;
    out += field.name_string();
    out += ": ";
    out += field.value();
    out += "\r\n";
  }
  out += "Server: ssehub\r\n";
  if (!keep_alive) out += "Connection: close\r\n";
  out += "\r\n";
}

}  // namespace ssehub::http
