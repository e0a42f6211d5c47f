#include "history/segment/segment_journal_format.hpp"

#include <boost/crc.hpp>
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

namespace ssehub::history::segment_journal {
namespace {

// Journals written by earlier builds (which summed with boost::crc_32_type) must stay readable.
TEST(SegmentJournalFormatTest, RecordChecksumIsCrc32AsEarlierJournalsHoldIt) {
  EXPECT_EQ(crc_of("123456789", 9), 0xCBF43926u);  // the CRC-32/ISO-HDLC check value
  EXPECT_EQ(crc_of("", 0), 0u);
  std::string bytes;
  std::uint32_t state = 1;
  for (std::size_t size : {1u, 7u, 8u, 31u, 40u, 129u, 4096u, 70001u}) {
    bytes.clear();
    for (std::size_t i = 0; i < size; ++i) {
      state = state * 1103515245u + 12345u;
      bytes.push_back(static_cast<char>(state >> 16));
    }
    for (std::size_t offset : {0u, 1u, 3u}) {  // any alignment
      if (offset >= size) continue;
      boost::crc_32_type expected;
      expected.process_bytes(bytes.data() + offset, size - offset);
      EXPECT_EQ(crc_of(bytes.data() + offset, size - offset), expected.checksum())
          << size << " bytes from " << offset;
    }
  }
}

}  // namespace
}  // namespace ssehub::history::segment_journal
