// Writing and reading the segment log's records and files (format in segment_journal_format.hpp).
#include "history/segment/segment_journal_format.hpp"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <memory>
#include <system_error>

namespace ssehub::history::segment_journal {

namespace fs = std::filesystem;

void put_string(std::string& out, const std::string& value) {
  put<std::uint32_t>(out, static_cast<std::uint32_t>(value.size()));
  out.append(value);
}

// CRC-32 (ISO-HDLC, as boost::crc_32_type and zlib compute it): zlib's takes several bytes a
// step where Boost's table takes one, and every publish's record is summed.
std::uint32_t crc_of(const char* data, std::size_t size) {
  std::uint32_t crc = 0;
  while (size > 0) {
    const auto piece = static_cast<uInt>(std::min<std::size_t>(size, 1u << 30));
    crc = static_cast<std::uint32_t>(crc32(crc, reinterpret_cast<const Bytef*>(data), piece));
    data += piece;
    size -= piece;
  }
  return crc;
}

void begin_record(std::string& out) {
  out.append(kHeader, '\0');
}

void end_record(std::string& out, std::size_t start) {
  const auto size = static_cast<std::uint32_t>(out.size() - start - kHeader);
  const std::uint32_t crc = crc_of(out.data() + start + kHeader, size);
  std::memcpy(out.data() + start, &size, 4);
  std::memcpy(out.data() + start + 4, &crc, 4);
}

[[noreturn]] void throw_errno(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

namespace {

[[noreturn]] void throw_write_error(const std::string& path) {
  // Said in the words SQLite uses, so an operator reads one message whichever log runs.
  if (errno == ENOSPC) throw std::runtime_error("history journal: the disk is full (" + path + ")");
  throw_errno("history journal: write to " + path);
}

}  // namespace

void write_all(int fd, const char* data, std::size_t size, const std::string& path) {
  while (size > 0) {
    const ssize_t written = ::write(fd, data, size);
    if (written < 0) {
      if (errno == EINTR) continue;
      throw_write_error(path);
    }
    data += written;
    size -= static_cast<std::size_t>(written);
  }
}

void write_all_at(int fd, const char* data, std::size_t size, std::size_t offset,
                  const std::string& path) {
  while (size > 0) {
    const ssize_t written = ::pwrite(fd, data, size, static_cast<off_t>(offset));
    if (written < 0) {
      if (errno == EINTR) continue;
      throw_write_error(path);
    }
    data += written;
    size -= static_cast<std::size_t>(written);
    offset += static_cast<std::size_t>(written);
  }
}

bool zeros_from(const fs::path& path, std::size_t offset) {
  std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!file || std::fseek(file.get(), static_cast<long>(offset), SEEK_SET) != 0) return false;
  char piece[4096];
  for (;;) {
    const std::size_t got = std::fread(piece, 1, sizeof piece, file.get());
    if (got == 0) return true;
    if (std::any_of(piece, piece + got, [](char c) { return c != 0; })) return false;
  }
}

void sync_directory(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

std::size_t read_records(const fs::path& path, const std::function<void(Reader&)>& apply) {
  std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!file) throw_errno("history journal: open " + path.string());
  std::size_t offset = 0;
  std::string payload;
  for (;;) {
    char header[kHeader];
    if (std::fread(header, 1, kHeader, file.get()) != kHeader) break;
    std::uint32_t size = 0, crc = 0;
    std::memcpy(&size, header, 4);
    std::memcpy(&crc, header + 4, 4);
    // No record is empty (each starts with its kind): a zero length is where the zeros of a
    // segment prepared ahead begin.
    if (size == 0 || size > kMaxRecord) break;
    payload.resize(size);
    if (std::fread(payload.data(), 1, size, file.get()) != size) break;
    if (crc_of(payload.data(), size) != crc) break;
    Reader reader(payload.data(), size);
    apply(reader);
    offset += kHeader + size;
  }
  return offset;
}

std::string file_name(const char* kind, std::uint64_t index) {
  char name[64];
  std::snprintf(name, sizeof name, "%s-%020llu.log", kind, static_cast<unsigned long long>(index));
  return name;
}

std::optional<std::uint64_t> index_of(const std::string& name, const std::string& kind) {
  const std::string prefix = kind + "-";
  if (name.size() != prefix.size() + 20 + 4 || name.compare(0, prefix.size(), prefix) != 0 ||
      name.compare(name.size() - 4, 4, ".log") != 0)
    return std::nullopt;
  try {
    return std::stoull(name.substr(prefix.size(), 20));
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

}  // namespace ssehub::history::segment_journal
