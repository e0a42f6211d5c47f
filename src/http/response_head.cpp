#include "http/response_head.hpp"

namespace ssehub::http {

void write_head(const Response& response, std::string& out) {
  out.clear();
  out += "HTTP/1.1 ";
  out += std::to_string(response.result_int());
  out += ' ';
  out += response.reason();
  out += "\r\n";
  for (const auto& field : response) {
    out += field.name_string();
    out += ": ";
    out += field.value();
    out += "\r\n";
  }
  out += "\r\n";
}

}  // namespace ssehub::http
