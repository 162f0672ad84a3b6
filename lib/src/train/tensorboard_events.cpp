#include "seqenc/train/tensorboard_events.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>

#include <boost/crc.hpp>
#include <fmt/format.h>

#include "seqenc/error.h"
#include "seqenc/files.h"
#include "tensorboard.pb.h"

namespace seqenc {

namespace fs = std::filesystem;
namespace tb = seqenc::tensorboard;

namespace {

constexpr size_t kHeader = 12;  // the length (8 bytes) and its masked CRC (4)

uint32_t masked(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }

void put_le(std::string& out, uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out += static_cast<char>((value >> (8 * i)) & 0xff);
}

uint64_t get_le(const char* p, int bytes) {
  uint64_t value = 0;
  for (int i = bytes - 1; i >= 0; --i) value = (value << 8) | static_cast<unsigned char>(p[i]);
  return value;
}

std::string frame(const std::string& data) {
  std::string out;
  put_le(out, data.size(), 8);
  put_le(out, masked(crc32c(out.data(), 8)), 4);
  out += data;
  put_le(out, masked(crc32c(data.data(), data.size())), 4);
  return out;
}

double now_s() { return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count(); }

tb::Event event_at(int64_t step) {
  tb::Event e;
  e.set_wall_time(now_s());
  e.set_step(step);
  return e;
}

// A summary value of the hparams plugin: its content is the plugin's own message.
void add_hparams_value(tb::Event& e, const std::string& tag, const tb::HParamsPluginData& data) {
  auto* value = e.mutable_summary()->add_value();
  value->set_tag(tag);
  auto* plugin = value->mutable_metadata()->mutable_plugin_data();
  plugin->set_plugin_name("hparams");
  plugin->set_content(data.SerializeAsString());
}

google::protobuf::Value hparam_value(const ScalarValue& v) {
  google::protobuf::Value out;
  std::visit(
      [&out](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, bool>)
          out.set_bool_value(x);
        else if constexpr (std::is_same_v<T, std::string>)
          out.set_string_value(x);
        else
          out.set_number_value(static_cast<double>(x));
      },
      v);
  return out;
}

}  // namespace

uint32_t crc32c(const void* data, size_t n) {
  boost::crc_optimal<32, 0x1EDC6F41, 0xFFFFFFFF, 0xFFFFFFFF, true, true> crc;
  crc.process_bytes(data, n);
  return crc.checksum();
}

EventRecords read_event_records(const std::string& bytes) {
  EventRecords out;
  size_t at = 0;
  while (at < bytes.size()) {
    const char* p = bytes.data() + at;
    const size_t left = bytes.size() - at;
    if (left < kHeader || get_le(p + 8, 4) != masked(crc32c(p, 8))) break;
    const uint64_t length = get_le(p, 8);
    if (length > left - kHeader || left - kHeader - length < 4) break;
    const std::string data(p + kHeader, length);
    tb::Event event;
    if (get_le(p + kHeader + length, 4) != masked(crc32c(data.data(), data.size())) || !event.ParseFromString(data))
      break;
    out.records.push_back({event.step(), std::string(p, kHeader + length + 4)});
    at += kHeader + length + 4;
  }
  out.damaged = at < bytes.size();
  return out;
}

std::vector<ScalarPoint> read_scalars(const fs::path& dir) {
  std::vector<fs::path> files;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(dir, error)) {
    if (entry.path().filename().string().find("tfevents") != std::string::npos) files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  std::vector<ScalarPoint> out;
  for (const auto& file : files) {
    std::string problem;
    for (const auto& record : read_event_records(read_whole_file(file, &problem)).records) {
      tb::Event event;
      event.ParseFromString(record.frame.substr(kHeader, record.frame.size() - kHeader - 4));
      for (const auto& v : event.summary().value()) {
        if (v.value_case() == tb::Summary::Value::kSimpleValue)
          out.push_back({v.tag(), event.step(), v.simple_value()});
      }
    }
  }
  return out;
}

void truncate_events_file(const fs::path& path, int64_t step) {
  std::string problem;
  const auto bytes = read_whole_file(path, &problem);
  if (!problem.empty()) throw WriteError(path.string() + ": " + problem);
  const auto read = read_event_records(bytes);
  std::string kept;
  for (const auto& r : read.records) {
    if (r.step <= step) kept += r.frame;
  }
  if (kept.size() != bytes.size()) write_file_atomic(path, kept);  // a kill during the rewrite leaves the old file
}

EventFileWriter::EventFileWriter(const fs::path& dir) {
  std::error_code error;
  fs::create_directories(dir, error);
  if (error) throw WriteError(dir.string() + ": cannot create directory (" + error.message() + ")");
  char host[256] = "localhost";
  gethostname(host, sizeof host - 1);
  path_ = dir / fmt::format("events.out.tfevents.{:010}.{}.{}", static_cast<int64_t>(now_s()), host, getpid());
  auto e = event_at(0);
  e.set_file_version("brain.Event:2");
  write_event(e.SerializeAsString());
}

void EventFileWriter::write_event(const std::string& event) { append_to_file(path_, frame(event)); }

void EventFileWriter::scalars(int64_t step, const std::vector<std::pair<std::string, double>>& values) {
  auto e = event_at(step);
  for (const auto& [tag, value] : values) {
    auto* v = e.mutable_summary()->add_value();
    v->set_tag(tag);
    v->set_simple_value(static_cast<float>(value));
  }
  write_event(e.SerializeAsString());
}

void EventFileWriter::session_start(int64_t step) {
  auto e = event_at(step);
  e.mutable_session_log()->set_status(tb::SessionLog::START);
  write_event(e.SerializeAsString());
}

void EventFileWriter::hparams_start(const std::map<std::string, ScalarValue>& hparams) {
  tb::HParamsPluginData data;
  auto* start = data.mutable_session_start_info();
  for (const auto& [key, value] : hparams) (*start->mutable_hparams())[key] = hparam_value(value);
  start->set_start_time_secs(now_s());
  auto e = event_at(0);
  add_hparams_value(e, "_hparams_/session_start_info", data);
  write_event(e.SerializeAsString());
}

void EventFileWriter::hparams_end(bool success) {
  tb::HParamsPluginData data;
  auto* end = data.mutable_session_end_info();
  end->set_status(success ? tb::STATUS_SUCCESS : tb::STATUS_FAILURE);
  end->set_end_time_secs(now_s());
  auto e = event_at(0);
  add_hparams_value(e, "_hparams_/session_end_info", data);
  write_event(e.SerializeAsString());
}

void EventFileWriter::sync() const { sync_file(path_); }

}  // namespace seqenc
