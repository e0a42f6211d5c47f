#include "api/idempotency.hpp"

#include "bus/event_bus.hpp"

#include <gtest/gtest.h>

#include <string>

namespace ssehub::api {
namespace {

TEST(IdempotencyKey, VisibleAsciiUpTo255CharactersIsAccepted) {
  EXPECT_FALSE(check_idempotency_key("a"));
  EXPECT_FALSE(check_idempotency_key("order-42:retry/1?x=~!"));
  EXPECT_FALSE(check_idempotency_key("550e8400-e29b-41d4-a716-446655440000"));
  EXPECT_FALSE(check_idempotency_key(std::string(kMaxIdempotencyKeyBytes, 'k')));
}

TEST(IdempotencyKey, EmptyTooLongOrInvisibleIsRefusedWith400) {
  for (const std::string& key : {std::string(), std::string(kMaxIdempotencyKeyBytes + 1, 'k'),
                                std::string("has space"), std::string("tab\there"),
                                std::string("nul\0x", 5), std::string("\xc3\xa9t\xc3\xa9"),
                                std::string("del\x7f")}) {
    const auto refusal = check_idempotency_key(key);
    ASSERT_TRUE(refusal) << key;
    EXPECT_EQ(refusal->status, http::beast_http::status::bad_request);
    EXPECT_EQ(refusal->error, "invalid_idempotency_key");
  }
}

TEST(IdempotencyKey, DedupeKeysAreNamespacedPerStreamAndRecognisedByTheBus) {
  EXPECT_NE(dedupe_key_for("v2:alice", "k"), dedupe_key_for("v2:bob", "k"));
  EXPECT_NE(dedupe_key_for("v2:alice", "k"), dedupe_key_for("v3:alice", "k"));
  EXPECT_EQ(dedupe_key_for("v2:alice", "k"), dedupe_key_for("v2:alice", "k"));
  // A stream name ending like a key cannot pass for another stream and key.
  EXPECT_NE(dedupe_key_for("v2:a:b", "c"), dedupe_key_for("v2:a", "b:c"));
  EXPECT_TRUE(dedupe_key_for("v2:alice", "k").starts_with(bus::kIdempotencyKeyPrefix));
  // Report changes and Kafka records carry dedupe keys of their own, never taken for keyed.
  EXPECT_FALSE(std::string("report:r1:created").starts_with(bus::kIdempotencyKeyPrefix));
  EXPECT_FALSE(std::string("kafka:v3:0:7").starts_with(bus::kIdempotencyKeyPrefix));
}

}  // namespace
}  // namespace ssehub::api
