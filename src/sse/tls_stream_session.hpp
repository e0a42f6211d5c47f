#pragma once

#include "sse/stream_session.hpp"

#include <memory>
#include <string>

namespace ssehub::sse {

// A StreamSession over TLS (an http::TlsStream). With settings.tls_park_idle it parks the
// connection on its first write, the response head: OpenSSL's state is freed and the records
// are sealed by the stream's TlsRecordSealer from then on. A parked stream reads nothing:
// whatever the client sends, or its leaving, closes the stream (the client resumes).
std::shared_ptr<StreamSession> make_tls_stream_session(hub::Hub& hub, StreamMetrics& metrics,
                                                       const StreamSettings& settings, unsigned thread,
                                                       std::string stream);

}  // namespace ssehub::sse
