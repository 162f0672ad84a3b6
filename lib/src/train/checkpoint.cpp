#include "seqenc/train/checkpoint.h"

#include <filesystem>
#include <map>
#include <set>

#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include "seqenc/compat.h"
#include "seqenc/files.h"
#include "seqenc/version.h"
#include "seqenc/zip_archive.h"

namespace seqenc {

namespace {
// "seqenc-checkpoint-<version>": the version grows only when older readers could not read the file; additions
// (such as seqenc_version) keep it.
constexpr const char* kFormatPrefix = "seqenc-checkpoint-";
constexpr int kFormatVersion = 1;

torch::Tensor scalar(double v) { return torch::tensor(v, torch::kFloat64); }
torch::Tensor scalar(int64_t v) { return torch::tensor(v, torch::kLong); }

// A foreign file, or a format newer than this seqenc reads: one line saying so.
void check_format(const std::string& path, torch::serialize::InputArchive& archive) {
  c10::IValue format, version;
  const std::string prefix = kFormatPrefix;
  if (!archive.try_read("format", format) || !format.isString() || format.toStringRef().rfind(prefix, 0) != 0) {
    throw CheckpointError(path + ": not a seqenc checkpoint");
  }
  const std::string written_by = archive.try_read("seqenc_version", version) && version.isString()
                                     ? "seqenc " + version.toStringRef()
                                     : "seqenc 0.2.0 or older";
  const std::string number = format.toStringRef().substr(prefix.size());
  if (number.empty() || number.find_first_not_of("0123456789") != std::string::npos) {
    throw CheckpointError(path + ": unknown checkpoint format '" + format.toStringRef() + "'");
  }
  if (std::stol(number) > kFormatVersion) {
    throw CheckpointError(
        fmt::format("{}: checkpoint format {} (written by {}) is newer than this seqenc {} reads "
                    "(format {}); use a newer seqenc",
                    path, number, written_by, kVersion, kFormatVersion));
  }
}

std::string shape_of(const torch::Tensor& t) { return fmt::format("[{}]", fmt::join(t.sizes(), ", ")); }

// Every tensor of `module` against the archive, recursively: what is missing, extra or shaped differently.
// LibTorch's own load would replace a parameter by a tensor of another shape without a word.
void shape_differences(const torch::nn::Module& module, torch::serialize::InputArchive& archive,
                       const std::string& prefix, std::vector<std::string>& out) {
  std::set<std::string> known;
  auto check = [&](const std::string& name, const torch::Tensor& expected, bool is_buffer) {
    known.insert(name);
    torch::Tensor saved;
    if (!archive.try_read(name, saved, is_buffer)) {
      out.push_back(prefix + name + " is in this model but not in the checkpoint");
    } else if (saved.sizes() != expected.sizes()) {
      out.push_back(prefix + name + " is " + shape_of(saved) + " in the checkpoint, " + shape_of(expected) +
                    " in this model");
    }
  };
  for (const auto& p : module.named_parameters(/*recurse=*/false)) check(p.key(), p.value(), false);
  for (const auto& b : module.named_buffers(/*recurse=*/false)) check(b.key(), b.value(), true);
  for (const auto& child : module.named_children()) {
    if (!child.value()->is_serializable()) continue;
    known.insert(child.key());
    torch::serialize::InputArchive child_archive;
    if (!archive.try_read(child.key(), child_archive)) {
      out.push_back(prefix + child.key() + " is in this model but not in the checkpoint");
      continue;
    }
    shape_differences(*child.value(), child_archive, prefix + child.key() + ".", out);
  }
  for (const auto& key : archive.keys()) {
    if (known.count(key)) continue;
    torch::Tensor tensor;
    torch::serialize::InputArchive sub;
    if (archive.try_read(key, tensor) || archive.try_read(key, sub)) {
      out.push_back(prefix + key + " is in the checkpoint but not in this model");
    }
  }
}

// "key: value" lines -> key -> value.
std::map<std::string, std::string> key_values(const std::string& text) {
  std::map<std::string, std::string> out;
  size_t start = 0;
  while (start < text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    const auto line = text.substr(start, end - start);
    const auto colon = line.find(": ");
    if (colon != std::string::npos) out[line.substr(0, colon)] = line.substr(colon + 2);
    start = end + 1;
  }
  return out;
}

// The configuration keys whose values differ between the checkpoint and now.
std::vector<std::string> key_differences(torch::serialize::InputArchive& archive, const std::string& model_keys) {
  c10::IValue saved;
  if (model_keys.empty() || !archive.try_read("model_keys", saved) || !saved.isString()) return {};
  const auto before = key_values(saved.toStringRef()), now = key_values(model_keys);
  std::vector<std::string> out;
  for (const auto& [key, value] : now) {
    auto it = before.find(key);
    if (it != before.end() && it->second != value)
      out.push_back(fmt::format("{}: {} in the checkpoint, {} now", key, it->second, value));
  }
  return out;
}

void check_shapes(const std::string& path, const torch::nn::Module& model, torch::serialize::InputArchive& archive,
                  torch::serialize::InputArchive& model_archive, const std::string& model_keys) {
  std::vector<std::string> differences;
  shape_differences(model, model_archive, "", differences);
  if (differences.empty()) return;
  const auto keys = key_differences(archive, model_keys);
  if (!keys.empty()) {
    throw CheckpointError(fmt::format("{}: saved for a model of another shape: {}", path, fmt::join(keys, "; ")));
  }
  throw CheckpointError(fmt::format(
      "{}: saved for a different model shape: {}{}; the model.* keys (or the data's vocabulary or labels) differ "
      "from the run's",
      path, differences.front(),
      differences.size() > 1 ? fmt::format(" (and {} more difference(s))", differences.size() - 1) : ""));
}
// Each rank's generator state, one row per rank of the checkpoint's world size, each as long as this LibTorch's.
torch::Tensor checked_generators(const std::string& path, const torch::Tensor& t, int64_t world_size) {
  const auto length = at::detail::getDefaultCPUGenerator().get_state().numel();
  if (t.dim() != 2 || t.scalar_type() != torch::kByte || t.size(0) != world_size || t.size(1) != length) {
    throw CheckpointError(fmt::format("{}: damaged checkpoint (rank_cpu_rng is {} {}, expected Byte [{}, {}])", path,
                                      c10::toString(t.scalar_type()), shape_of(t), world_size, length));
  }
  return t;
}
}  // namespace

void save_checkpoint(const std::string& path, torch::nn::Module& model, torch::optim::Optimizer* optimizer,
                     const TrainingState& s, const std::string& model_keys) {
  torch::serialize::OutputArchive archive;
  archive.write("format", c10::IValue(kFormatPrefix + std::to_string(kFormatVersion)));
  archive.write("seqenc_version", c10::IValue(std::string(kVersion)));
  if (!model_keys.empty()) archive.write("model_keys", c10::IValue(model_keys));
  torch::serialize::OutputArchive model_archive;
  model.save(model_archive);
  archive.write("model", model_archive);
  if (optimizer) {
    torch::serialize::OutputArchive optimizer_archive;
    optimizer->save(optimizer_archive);
    archive.write("optimizer", optimizer_archive);
  }
  archive.write("step", scalar(s.step));
  archive.write("epoch", scalar(s.epoch));
  archive.write("batch_in_epoch", scalar(s.batch_in_epoch));
  archive.write("best_metric", scalar(s.best_metric));
  archive.write("best_step", scalar(s.best_step));
  archive.write("evals_without_improvement", scalar(s.evals_without_improvement));
  archive.write("elapsed_s", scalar(s.elapsed_s));
  archive.write("tokens_seen", scalar(s.tokens_seen));
  archive.write("window_loss", scalar(s.window_loss));
  archive.write("window_steps", scalar(s.window_steps));
  archive.write("world_size", scalar(s.world_size));
  archive.write("global_batch_size", scalar(s.global_batch_size));
  // Dropout draws from the default CPU generator; restoring it makes resumed runs identical.
  archive.write("cpu_rng", at::detail::getDefaultCPUGenerator().get_state());
  if (s.rank_generators.defined()) archive.write("rank_cpu_rng", s.rank_generators);

  // Through a temporary file, fsync, rename and fsync of the directory: a kill at any moment leaves the
  // previous checkpoint or this one, and a full disk leaves the previous one (WriteError naming the cause).
  AtomicFile out(path);
  try {
    // Always "all written": LibTorch's writer throws from its destructor after a short write, which ends the
    // process (std::terminate). A failure is kept by `out` and reported by commit().
    archive.save_to([&](const void* data, size_t n) -> size_t {
      out.write(data, n);
      return n;
    });
  } catch (const c10::Error& e) {
    const std::string why = e.what_without_backtrace();
    out.fail(why.substr(0, why.find('\n')));  // kept only if no write failed first (that cause is the real one)
  }
  out.commit();
}

TrainingState load_checkpoint(const std::string& path, torch::nn::Module& model, torch::optim::Optimizer* optimizer,
                              const std::string& model_keys) {
  if (!std::filesystem::exists(path)) throw CheckpointError(path + ": no such checkpoint");
  std::string problem;
  const auto bytes = read_whole_file(path, &problem);
  if (!problem.empty()) throw CheckpointError(path + ": cannot read checkpoint (" + problem + ")");
  problem = zip_archive_problem(bytes);  // before LibTorch parses anything: its reader trusts the file
  if (!problem.empty()) throw CheckpointError(path + ": damaged checkpoint (" + problem + ")");
  problem = torch_format_problem(bytes);  // LibTorch's own refusal is a trace about its reader
  if (!problem.empty()) throw CheckpointError(path + ": " + problem);
  TrainingState s;
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(bytes.data(), bytes.size());
    check_format(path, archive);
    torch::serialize::InputArchive model_archive;
    archive.read("model", model_archive);
    check_shapes(path, model, archive, model_archive, model_keys);
    model.load(model_archive);
    if (optimizer) {
      torch::serialize::InputArchive optimizer_archive;
      archive.read("optimizer", optimizer_archive);
      compat::load_optimizer(*optimizer, optimizer_archive);  // 1.13's state keys read right on 2.x too
    }
    auto get = [&](const char* key) {
      torch::Tensor t;
      archive.read(key, t);
      return t;
    };
    s.step = get("step").item<int64_t>();
    s.epoch = get("epoch").item<int64_t>();
    s.batch_in_epoch = get("batch_in_epoch").item<int64_t>();
    s.best_metric = get("best_metric").item<double>();
    s.best_step = get("best_step").item<int64_t>();
    s.evals_without_improvement = get("evals_without_improvement").item<int64_t>();
    s.elapsed_s = get("elapsed_s").item<double>();
    s.tokens_seen = get("tokens_seen").item<int64_t>();
    s.window_loss = get("window_loss").item<double>();
    s.window_steps = get("window_steps").item<int64_t>();
    torch::Tensor value;  // absent from checkpoints written before data parallelism
    if (archive.try_read("world_size", value)) s.world_size = value.item<int64_t>();
    if (archive.try_read("global_batch_size", value)) s.global_batch_size = value.item<int64_t>();
    torch::Tensor generators;  // absent before exact multi-rank resume
    if (archive.try_read("rank_cpu_rng", generators))
      s.rank_generators = checked_generators(path, generators, s.world_size);
    if (optimizer) {
      at::Generator generator = at::detail::getDefaultCPUGenerator();  // a handle to the shared generator
      generator.set_state(get("cpu_rng"));
    }
  } catch (const CheckpointError&) {
    throw;
  } catch (const std::exception& e) {
    std::string why = e.what();
    why = why.substr(0, why.find('\n'));
    throw CheckpointError(path + ": damaged or incompatible checkpoint (" + why + ")");
  }
  return s;
}

}  // namespace seqenc
