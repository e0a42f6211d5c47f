#pragma once

#include "http/request.hpp"

#include <string>

namespace ssehub::http {

// The status line and header fields of `response`, as HTTP/1.1 sends them, into `out`
// (cleared first; its capacity is reused). Written here rather than by Beast's serializer,
// whose buffer sequences cost a fifth of a publish's instructions. The fields every answer
// gets are written here too, as if set last on the response (Beast's set() looks the name up
// as text, a few percent of a publish): `Server: ssehub`, and `Connection: close` unless
// `keep_alive`; a 204 or 304 goes without Content-Length (RFC 9110 §8.6).
void write_head(const Response& response, bool keep_alive, std::string& out);

}  // namespace ssehub::http
