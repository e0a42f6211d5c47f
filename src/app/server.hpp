#pragma once

#include "config/config.hpp"

#include <memory>

namespace ssehub::app {

// A running ssehub: every component, built in dependency order and started; stop() ends them
// in reverse, draining what is in progress instead of sleeping, so that no handler outlives
// what it references.
class Server {
 public:
  // Builds, starts and binds everything, then serves on the I/O threads. Throws (having
  // stopped what it started) when something cannot start.
  explicit Server(const config::Config& config);
  ~Server();  // stops, if stop() has not
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Reads --tls-cert and --tls-key again (on the calling thread) for the connections accepted
  // from now on; open connections keep theirs. A file that cannot be used is logged and the
  // certificate in use is kept.
  void reload_certificate();

  // Stops accepting, closes the streams, lets producers finish what they accepted (stores
  // flushed, Kafka offsets committed), writes the answers owed, and ends the I/O threads.
  void stop();

 private:
  struct Components;
  void start();

  std::unique_ptr<Components> components_;
  bool stopped_ = false;
};

}  // namespace ssehub::app
