#include "seqenc/zip_archive.h"

#include <caffe2/serialize/versions.h>
#include <nlohmann/json.hpp>
#include <torch/version.h>
#include <zlib.h>

#include <algorithm>
#include <cstdint>

namespace seqenc {

namespace {

// Little-endian fields of a byte range; reads past the end come back as "out of range".
class Bytes {
 public:
  explicit Bytes(std::string_view b) : b_(b) {}
  bool has(uint64_t at, uint64_t n) const { return at <= b_.size() && n <= b_.size() - at; }
  uint64_t get(uint64_t at, int n) const {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(b_[at + static_cast<uint64_t>(i)]);
    return v;
  }
  std::string_view view(uint64_t at, uint64_t n) const { return b_.substr(at, n); }
  uint64_t size() const { return b_.size(); }

 private:
  std::string_view b_;
};

constexpr uint32_t kEndSig = 0x06054b50, kEnd64Sig = 0x06064b50, kLocator64Sig = 0x07064b50;
constexpr uint32_t kCentralSig = 0x02014b50, kLocalSig = 0x04034b50;

struct Directory {
  uint64_t entries = 0, offset = 0;
};

// The end-of-central-directory record (and its zip64 form): where the directory is and how many entries it has.
std::string find_directory(const Bytes& z, Directory& d) {
  if (z.size() < 22) return "too short for a zip archive";
  uint64_t end = z.size() - 22;
  const uint64_t lowest = z.size() > 22 + 65535 ? z.size() - 22 - 65535 : 0;
  while (z.get(end, 4) != kEndSig) {
    if (end == lowest) return "no zip directory (not an archive, or cut short)";
    --end;
  }
  d.entries = z.get(end + 10, 2);
  d.offset = z.get(end + 16, 4);
  if (d.entries != 0xFFFF && d.offset != 0xFFFFFFFF) return "";
  if (end < 20 || z.get(end - 20, 4) != kLocator64Sig) return "zip64 record missing";
  const uint64_t end64 = z.get(end - 20 + 8, 8);
  if (!z.has(end64, 56) || z.get(end64, 4) != kEnd64Sig) return "zip64 record damaged";
  d.entries = z.get(end64 + 32, 8);
  d.offset = z.get(end64 + 48, 8);
  return "";
}

struct Entry {
  std::string name;
  uint64_t crc = 0, compressed = 0, size = 0, local = 0, method = 0, next = 0;
};

// One central-directory record at `at`, with zip64 sizes and offset from its extra field.
std::string read_entry(const Bytes& z, uint64_t at, Entry& e) {
  if (!z.has(at, 46) || z.get(at, 4) != kCentralSig) return "zip directory damaged";
  e.method = z.get(at + 10, 2);
  e.crc = z.get(at + 16, 4);
  e.compressed = z.get(at + 20, 4);
  e.size = z.get(at + 24, 4);
  e.local = z.get(at + 42, 4);
  const uint64_t name_len = z.get(at + 28, 2), extra_len = z.get(at + 30, 2), comment_len = z.get(at + 32, 2);
  if (!z.has(at + 46, name_len + extra_len + comment_len)) return "zip directory damaged";
  e.name = std::string(z.view(at + 46, name_len));
  e.next = at + 46 + name_len + extra_len + comment_len;
  for (uint64_t x = at + 46 + name_len, x_end = x + extra_len; x + 4 <= x_end;) {
    const uint64_t id = z.get(x, 2), len = z.get(x + 2, 2);
    if (x + 4 + len > x_end) return "zip directory damaged";
    uint64_t field = x + 4;
    auto wide = [&](uint64_t& value) {
      if (value != 0xFFFFFFFF) return true;
      if (field + 8 > x + 4 + len) return false;
      value = z.get(field, 8);
      field += 8;
      return true;
    };
    if (id == 0x0001 && !(wide(e.size) && wide(e.compressed) && wide(e.local))) return "zip directory damaged";
    x += 4 + len;
  }
  return "";
}

uLong crc_of(std::string_view bytes) {
  uLong crc = crc32(0L, Z_NULL, 0);
  for (uint64_t done = 0; done < bytes.size();) {  // zlib takes at most 4 GiB at a time
    const auto n = static_cast<uInt>(std::min<uint64_t>(bytes.size() - done, 1u << 30));
    crc = crc32(crc, reinterpret_cast<const Bytef*>(bytes.data() + done), n);
    done += n;
  }
  return crc;
}

// A deflated entry (LibTorch compresses its code files), inflated to exactly its declared size, or "".
bool inflate_to(std::string_view compressed, uint64_t size, std::string& out) {
  if (size > (uint64_t{1} << 30) || compressed.size() > (uint64_t{1} << 30)) return false;  // not a code file
  out.assign(static_cast<size_t>(size), '\0');
  z_stream s{};
  if (inflateInit2(&s, -MAX_WBITS) != Z_OK) return false;
  s.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(compressed.data()));
  s.avail_in = static_cast<uInt>(compressed.size());
  s.next_out = reinterpret_cast<Bytef*>(out.data());
  s.avail_out = static_cast<uInt>(out.size());
  const int status = inflate(&s, Z_FINISH);
  const bool whole = status == Z_STREAM_END && s.total_out == size;
  inflateEnd(&s);
  return whole;
}

std::string check_entry(const Bytes& z, const Entry& e) {
  const std::string name = "entry '" + e.name + "'";
  if (e.method != 0 && e.method != 8) return name + " uses an unknown compression";
  if (e.method == 0 && e.compressed != e.size) return name + " has two sizes";
  if (!z.has(e.local, 30) || z.get(e.local, 4) != kLocalSig) return name + " has no local header";
  const uint64_t data = e.local + 30 + z.get(e.local + 26, 2) + z.get(e.local + 28, 2);
  if (!z.has(data, e.compressed)) return name + " is cut short";
  const auto stored = z.view(data, e.compressed);
  std::string inflated;
  if (e.method == 8 && !inflate_to(stored, e.size, inflated)) return name + " does not inflate";
  return crc_of(e.method == 8 ? std::string_view(inflated) : stored) == e.crc ? "" : name + " fails its checksum";
}

// Calls visit(entry) for each directory entry until it returns true; false if the directory is unreadable.
template <class Visit>
bool each_entry(const Bytes& z, Visit visit) {
  Directory d;
  if (!find_directory(z, d).empty()) return false;
  uint64_t at = d.offset;
  for (uint64_t i = 0; i < d.entries; ++i) {
    Entry e;
    if (!read_entry(z, at, e).empty()) return false;
    if (visit(e)) return true;
    at = e.next;
  }
  return true;
}

}  // namespace

std::string zip_archive_problem(std::string_view bytes) {
  const Bytes z(bytes);
  Directory d;
  if (auto problem = find_directory(z, d); !problem.empty()) return problem;
  if (d.entries == 0) return "empty zip archive";
  uint64_t at = d.offset;
  for (uint64_t i = 0; i < d.entries; ++i) {
    Entry e;
    if (auto problem = read_entry(z, at, e); !problem.empty()) return problem;
    if (auto problem = check_entry(z, e); !problem.empty()) return problem;
    at = e.next;
  }
  return "";
}

std::optional<std::string> zip_entry(std::string_view bytes, std::string_view name) {
  const Bytes z(bytes);
  std::optional<std::string> contents;
  each_entry(z, [&](const Entry& e) {
    if (e.name != name || !z.has(e.local, 30)) return false;
    const uint64_t data = e.local + 30 + z.get(e.local + 26, 2) + z.get(e.local + 28, 2);
    if (!z.has(data, e.compressed)) return true;
    std::string inflated;
    if (e.method == 0) {
      contents = std::string(z.view(data, e.compressed));
    } else if (e.method == 8 && inflate_to(z.view(data, e.compressed), e.size, inflated)) {
      contents = std::move(inflated);
    }
    return true;
  });
  return contents;
}

std::string torch_format_problem(std::string_view bytes) {
  // LibTorch's archives hold one folder (archive/, or the name the file had): its "version" entry is the format.
  std::string folder;
  each_entry(Bytes(bytes), [&](const Entry& e) {
    folder = e.name.substr(0, e.name.find('/'));
    return true;
  });
  const auto version = zip_entry(bytes, folder + "/version");
  if (!version || version->empty() || version->front() < '0' || version->front() > '9' ||
      version->find_first_not_of("0123456789\n") != std::string::npos) {
    return "";
  }
  const auto format = std::stoull(version->substr(0, 18));
  const auto readable = caffe2::serialize::kMaxSupportedFileFormatVersion;
  if (format <= readable) return "";
  std::string written_by = "a newer LibTorch";
  if (const auto info = zip_entry(bytes, folder + "/extra/seqenc.json")) {
    const auto json = nlohmann::json::parse(*info, nullptr, /*allow_exceptions=*/false);
    if (json.is_object() && json.contains("libtorch_version") && json["libtorch_version"].is_string()) {
      written_by = "LibTorch " + json["libtorch_version"].get<std::string>();
    }
  }
  return "written by " + written_by + " in file format " + std::to_string(format) +
         ", newer than this seqenc's LibTorch " + TORCH_VERSION + " reads (formats up to " + std::to_string(readable) +
         "); use a seqenc built with " + (written_by == "a newer LibTorch" ? written_by : written_by + " or newer");
}

}  // namespace seqenc
