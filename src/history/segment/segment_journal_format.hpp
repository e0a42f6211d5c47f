// The segment log's on-disk format: records (length, CRC-32, payload), their payload kinds, the
// file names of journals and snapshots, and the plain file I/O that writes and reads them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>

namespace ssehub::history::segment_journal {

// A record: payload length (u32), CRC-32 of the payload (u32), payload. Integers are stored
// in the host's byte order: a journal is read back by the machine that wrote it.
constexpr std::size_t kHeader = 8;
constexpr std::size_t kMaxRecord = std::size_t{1} << 30;
constexpr std::size_t kSnapshotChunk = std::size_t{4} << 20;

// Payload kinds. A batch is one append: the time it was stored, its new events (with their
// dedupe keys) and the positions stored with them. A snapshot chunk is a run of tagged items.
constexpr std::uint8_t kBatch = 1;
constexpr std::uint8_t kSnapshotChunkKind = 2;
constexpr std::uint8_t kEventItem = 'e';     // an entry with its event
constexpr std::uint8_t kKeyItem = 'k';       // an entry whose event the count limit dropped
constexpr std::uint8_t kExtentItem = 's';    // a stream's last id and trimmed-through id
constexpr std::uint8_t kPositionItem = 'p';  // a partition's next offset

template <class T>
void put(std::string& out, T value) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));
  out.append(bytes, sizeof(T));
}

void put_string(std::string& out, const std::string& value);

std::uint32_t crc_of(const char* data, std::size_t size);

void begin_record(std::string& out);

// Fills in the header of the record that begins at `start`.
void end_record(std::string& out, std::size_t start);

// Reads a payload whose checksum held: running past its end is a bug, not a torn write.
class Reader {
 public:
  Reader(const char* data, std::size_t size) : at_(data), end_(data + size) {}
  bool done() const { return at_ == end_; }
  template <class T>
  T get() {
    T value;
    std::memcpy(&value, take(sizeof(T)), sizeof(T));
    return value;
  }
  std::string get_string() {
    const auto size = get<std::uint32_t>();
    return std::string(take(size), size);
  }

 private:
  const char* take(std::size_t size) {
    if (static_cast<std::size_t>(end_ - at_) < size)
      throw std::runtime_error("history journal: a record is shorter than its contents");
    const char* data = at_;
    at_ += size;
    return data;
  }
  const char* at_;
  const char* end_;
};

[[noreturn]] void throw_errno(const std::string& what);

void write_all(int fd, const char* data, std::size_t size, const std::string& path);
// The same at `offset` (pwrite), for journals, which are written at their end but may be
// longer than that (a segment prepared ahead).
void write_all_at(int fd, const char* data, std::size_t size, std::size_t offset,
                  const std::string& path);
// Whether `path` holds only zero bytes from `offset` on: the unused end of a prepared segment
// rather than a torn record.
bool zeros_from(const std::filesystem::path& path, std::size_t offset);

void sync_directory(const std::filesystem::path& dir);

// Calls `apply` on each whole record of the file; returns the offset after the last one. A
// torn write shows as a short header, a short payload or a checksum that does not match.
std::size_t read_records(const std::filesystem::path& path,
                         const std::function<void(Reader&)>& apply);

std::string file_name(const char* kind, std::uint64_t index);

// "journal-00000000000000000007.log" -> 7 when `kind` is "journal".
std::optional<std::uint64_t> index_of(const std::string& name, const std::string& kind);

}  // namespace ssehub::history::segment_journal
