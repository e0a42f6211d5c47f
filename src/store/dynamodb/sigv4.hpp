#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ssehub::store::dynamodb {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct AwsCredentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // empty for long-term keys
};

// The parts of one HTTP request that AWS Signature Version 4 covers.
struct SigV4Request {
  std::string method;
  // As written in the request line. Services other than S3 encode it once more when signing,
  // which is what sign_v4 does.
  std::string path = "/";
  // Decoded names and values, in any order; sign_v4 encodes and sorts them.
  std::vector<std::pair<std::string, std::string>> query;
  // Every header to sign, `host` included, names in any case. A name given twice is signed as
  // one header with the values joined by commas, as HTTP folds them. Leave out x-amz-date and
  // x-amz-security-token: sign_v4 adds them.
  HeaderList headers;
  std::string_view payload;
};

struct SigV4Scope {
  std::string region;
  std::string service;
};

// Everything the signer derived, so tests can check each step against AWS's published suite.
struct SigV4Signature {
  std::string canonical_request;
  std::string string_to_sign;
  std::string signature;       // lowercase hex
  std::string signed_headers;  // "host;x-amz-date"
  std::string authorization;   // the value of the Authorization header
  // Headers to send besides the request's own (x-amz-date, x-amz-security-token), which the
  // signature covers.
  HeaderList added_headers;
};

struct SigV4Options {
  // RFC 3986 dot-segment removal and empty-segment collapsing, as every service but S3 expects.
  bool normalize_path = true;
};

// Signs `request` at `now` (taken as UTC). Pure: no clock, no environment, no I/O.
SigV4Signature sign_v4(const SigV4Request& request, const AwsCredentials& credentials,
                       const SigV4Scope& scope, std::chrono::system_clock::time_point now,
                       const SigV4Options& options = {});

// Lowercase hex SHA-256, the form SigV4 uses for payload and canonical-request hashes.
std::string sha256_hex(std::string_view data);

}  // namespace ssehub::store::dynamodb
