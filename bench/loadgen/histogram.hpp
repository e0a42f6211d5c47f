#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace loadgen {

// Log-linear histogram of non-negative integers (HdrHistogram's bucket layout with 128
// sub-buckets per power of two, so any reported value is within 1/128 of a recorded one).
// Recording is one increment in a preallocated array: safe on the hot path.
class Histogram {
 public:
  Histogram() : counts_(kBuckets, 0) {}

  void record(uint64_t value) {
    ++counts_[index_of(value)];
    ++count_;
    sum_ += value;
    if (value > max_) max_ = value;
  }

  void merge(const Histogram& other) {
    for (size_t i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
    count_ += other.count_;
    sum_ += other.sum_;
    if (other.max_ > max_) max_ = other.max_;
  }

  uint64_t count() const { return count_; }
  uint64_t max() const { return max_; }
  double mean() const { return count_ == 0 ? 0.0 : double(sum_) / double(count_); }

  // The value below or at which a fraction q (0..1) of the samples lie; 0 when empty.
  uint64_t quantile(double q) const {
    if (count_ == 0) return 0;
    uint64_t target = uint64_t(q * double(count_) + 0.999999);
    if (target < 1) target = 1;
    if (target > count_) target = count_;
    uint64_t seen = 0;
    for (size_t i = 0; i < kBuckets; ++i) {
      seen += counts_[i];
      if (seen >= target) {
        uint64_t mid = midpoint_of(i);
        return mid < max_ ? mid : max_;
      }
    }
    return max_;
  }

 private:
  static constexpr unsigned kSubBits = 7;
  static constexpr uint64_t kSub = uint64_t(1) << kSubBits;
  static constexpr size_t kBuckets = (64 - kSubBits + 1) * kSub;

  static size_t index_of(uint64_t v) {
    if (v < kSub) return size_t(v);
    unsigned shift = unsigned(std::bit_width(v)) - 1 - kSubBits;
    return (size_t(shift + 1) << kSubBits) | size_t((v >> shift) & (kSub - 1));
  }

  static uint64_t midpoint_of(size_t i) {
    uint64_t block = i >> kSubBits;
    uint64_t sub = i & (kSub - 1);
    if (block == 0) return sub;
    uint64_t low = (kSub + sub) << (block - 1);
    uint64_t width = uint64_t(1) << (block - 1);
    return low + width / 2;
  }

  std::vector<uint64_t> counts_;
  uint64_t count_ = 0;
  uint64_t sum_ = 0;
  uint64_t max_ = 0;
};

}  // namespace loadgen
