#pragma once

#include "http/request.hpp"

#include <string>

namespace ssehub::http {

// The status line and header fields of `response`, as HTTP/1.1 sends them, into `out`
// (cleared first; its capacity is reused). Written here rather than by Beast's serializer,
// whose buffer sequences cost a fifth of a publish's instructions.
void write_head(const Response& response, std::string& out);

}  // namespace ssehub::http
