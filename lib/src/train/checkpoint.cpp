#include "seqenc/train/checkpoint.h"

#include <filesystem>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

namespace seqenc {

namespace {
constexpr const char* kFormat = "seqenc-checkpoint-1";

torch::Tensor scalar(double v) { return torch::tensor(v, torch::kFloat64); }
torch::Tensor scalar(int64_t v) { return torch::tensor(v, torch::kLong); }
}  // namespace

void save_checkpoint(const std::string& path, torch::nn::Module& model, torch::optim::Optimizer* optimizer,
                     const TrainingState& s) {
  torch::serialize::OutputArchive archive;
  archive.write("format", c10::IValue(std::string(kFormat)));
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

  const std::string tmp = path + ".tmp";
  try {
    archive.save_to(tmp);
  } catch (const c10::Error& e) {
    std::filesystem::remove(tmp);
    throw std::runtime_error("cannot write checkpoint " + path);
  }
  std::filesystem::rename(tmp, path);  // atomic on POSIX file systems
}

TrainingState load_checkpoint(const std::string& path, torch::nn::Module& model, torch::optim::Optimizer* optimizer) {
  if (!std::filesystem::exists(path)) throw CheckpointError(path + ": no such checkpoint");
  TrainingState s;
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(path);
    c10::IValue format;
    if (!archive.try_read("format", format) || !format.isString() || format.toStringRef() != kFormat) {
      throw CheckpointError(path + ": not a seqenc checkpoint");
    }
    torch::serialize::InputArchive model_archive;
    archive.read("model", model_archive);
    model.load(model_archive);
    if (optimizer) {
      torch::serialize::InputArchive optimizer_archive;
      archive.read("optimizer", optimizer_archive);
      optimizer->load(optimizer_archive);
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
