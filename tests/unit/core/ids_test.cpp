#include "core/ids.hpp"

#include <gtest/gtest.h>

#include <string>

namespace core = ssehub::core;

TEST(UuidTest, CanonicalFormIsLowercase) {
  EXPECT_EQ(core::canonical_uuid("3F2B8A9E-6D1C-4E2F-9A7B-1C2D3E4F5A6B"),
            "3f2b8a9e-6d1c-4e2f-9a7b-1c2d3e4f5a6b");
  EXPECT_FALSE(core::canonical_uuid("3f2b8a9e6d1c4e2f9a7b1c2d3e4f5a6b"));
  EXPECT_FALSE(core::canonical_uuid("3f2b8a9e-6d1c-4e2f-9a7b-1c2d3e4f5a6g"));
  EXPECT_FALSE(core::canonical_uuid("not-a-uuid"));
}

TEST(UuidTest, RandomUuidsAreVersionFourAndDistinct) {
  const std::string a = core::random_uuid(), b = core::random_uuid();
  EXPECT_NE(a, b);
  EXPECT_TRUE(core::canonical_uuid(a));
  EXPECT_EQ(a[14], '4');
}
