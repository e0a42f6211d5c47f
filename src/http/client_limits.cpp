#include "http/client_limits.hpp"


#include <cmath>
#include <string_view>

namespace ssehub::http {

std::size_t ClientLimits::AddressHash::operator()(const boost::asio::ip::address& address) const {
  if (address.is_v4()) return std::hash<std::uint32_t>{}(address.to_v4().to_uint());
  const auto bytes = address.to_v6().to_bytes();
  return std::hash<std::string_view>{}(
      std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

ClientLimits::Stripe& ClientLimits::stripe_of(const boost::asio::ip::address& address) {
  return stripes_[AddressHash{}(address) % kStripes];
}

std::optional<ClientLimits::Slot> ClientLimits::acquire_connection(
    const boost::asio::ip::address& address) {
  if (settings_.max_connections_per_address == 0) return Slot{};
  Stripe& stripe = stripe_of(address);
  {
    std::lock_guard lock(stripe.mutex);
    std::size_t& count = stripe.connections[address];
    if (count >= settings_.max_connections_per_address) return std::nullopt;
    ++count;
  }
  // The slot's deleter gives the connection back; it keeps the limits alive until then.
  return Slot(static_cast<void*>(this), [self = shared_from_this(), address](void*) {
    self->release_connection(address);
  });
}

void ClientLimits::release_connection(const boost::asio::ip::address& address) {
  Stripe& stripe = stripe_of(address);
  std::lock_guard lock(stripe.mutex);
  auto it = stripe.connections.find(address);
  if (it != stripe.connections.end() && --it->second == 0) stripe.connections.erase(it);
}

std::optional<std::chrono::seconds> ClientLimits::take_request(
    const boost::asio::ip::address& address) {
  if (settings_.requests_per_second <= 0) return std::nullopt;
  const double capacity = std::max(1.0, settings_.burst);
  const auto now = std::chrono::steady_clock::now();
  Stripe& stripe = stripe_of(address);
  std::lock_guard lock(stripe.mutex);
  if (stripe.buckets.size() > kMaxBucketsPerStripe) {
    // Forget idle clients: a bucket that would be full again carries no information.
    std::erase_if(stripe.buckets, [&](const auto& entry) {
      const double idle = std::chrono::duration<double>(now - entry.second.refilled).count();
      return entry.second.tokens + idle * settings_.requests_per_second >= capacity;
    });
  }
  auto [it, fresh] = stripe.buckets.try_emplace(address, Bucket{capacity, now});
  Bucket& bucket = it->second;
  if (!fresh) {
    const double elapsed = std::chrono::duration<double>(now - bucket.refilled).count();
    bucket.tokens = std::min(capacity, bucket.tokens + elapsed * settings_.requests_per_second);
    bucket.refilled = now;
  }
  if (bucket.tokens >= 1.0) {
    bucket.tokens -= 1.0;
    return std::nullopt;
  }
  const double wait = (1.0 - bucket.tokens) / settings_.requests_per_second;
  return std::chrono::seconds(static_cast<long>(std::ceil(wait)));
}

}  // namespace ssehub::http
