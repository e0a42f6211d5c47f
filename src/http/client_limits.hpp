#pragma once

#include <boost/asio/ip/address.hpp>

#include <array>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>

namespace ssehub::http {

struct ClientLimitSettings {
  std::size_t max_connections_per_address = 0;  // 0 = no limit
  double requests_per_second = 0;               // 0 = no limit
  double burst = 0;                             // bucket size; at least one request
};

// Per client address: how many connections it holds, and a token bucket for its requests.
// Striped locks: touched once per connection and once per request, never per event.
class ClientLimits : public std::enable_shared_from_this<ClientLimits> {
 public:
  explicit ClientLimits(ClientLimitSettings settings) : settings_(settings) {}

  // A held connection slot; releasing it (destroying the last copy) frees the slot.
  using Slot = std::shared_ptr<void>;
  // nullopt when the address already holds its maximum of connections.
  std::optional<Slot> acquire_connection(const boost::asio::ip::address& address);

  // nullopt when the request may proceed; otherwise how long the client should wait.
  std::optional<std::chrono::seconds> take_request(const boost::asio::ip::address& address);

 private:
  struct Bucket {
    double tokens = 0;
    std::chrono::steady_clock::time_point refilled{};
  };
  // Boost 1.74 has no std::hash for addresses.
  struct AddressHash {
    std::size_t operator()(const boost::asio::ip::address& address) const;
  };
  struct Stripe {
    std::mutex mutex;
    std::unordered_map<boost::asio::ip::address, std::size_t, AddressHash> connections;
    std::unordered_map<boost::asio::ip::address, Bucket, AddressHash> buckets;
  };
  static constexpr std::size_t kStripes = 32;
  static constexpr std::size_t kMaxBucketsPerStripe = 8192;

  Stripe& stripe_of(const boost::asio::ip::address& address);
  void release_connection(const boost::asio::ip::address& address);

  ClientLimitSettings settings_;
  std::array<Stripe, kStripes> stripes_;
};

}  // namespace ssehub::http
