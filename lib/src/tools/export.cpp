#include "seqenc/tools/export.h"

#include <filesystem>
#include <sstream>

#include <nlohmann/json.hpp>
#include <torch/script.h>
#include <torch/torch.h>
#include <torch/version.h>

#include "seqenc/data/tokenizer.h"
#include "seqenc/files.h"
#include "seqenc/nn/torchscript.h"
#include "seqenc/train/run.h"
#include "seqenc/version.h"

namespace seqenc {

torch::jit::Module script_model(SequenceModelImpl& model, const ExportMetadata& meta) {
  torch::NoGradGuard no_grad;
  model.eval();
  torch::jit::Module module("SeqencModel");
  for (const auto& p : model.named_parameters()) {
    module.register_parameter(TorchScriptWriter::attribute_name(p.key()), p.value().detach().clone(),
                              /*is_buffer=*/false);
  }
  for (const auto& b : model.named_buffers()) {
    module.register_buffer(TorchScriptWriter::attribute_name(b.key()), b.value().detach().clone());
  }
  auto strings = c10::ListType::create(c10::StringType::get());
  c10::List<std::string> vocab(meta.vocab), labels(meta.labels);
  module.register_attribute("vocab", strings, vocab);
  module.register_attribute("labels", strings, labels);
  module.register_attribute("task", c10::StringType::get(), meta.task);
  module.register_attribute("head", c10::StringType::get(), meta.head);
  module.register_attribute("tokenizer", c10::StringType::get(), meta.tokenizer);
  module.register_attribute("max_len", c10::IntType::get(), meta.max_len);
  module.register_attribute("config", c10::StringType::get(), meta.config_yaml);
  module.define(model.torchscript_source());
  module.eval();
  return module;
}

void save_scripted(torch::jit::Module& module, const ExportMetadata& meta, const std::string& path) {
  nlohmann::json info = {{"format", kExportFormatPrefix + std::to_string(kExportFormatVersion)},
                         {"seqenc_version", kVersion},
                         {"libtorch_version", TORCH_VERSION},  // named if an older LibTorch cannot read it
                         {"task", meta.task},
                         {"head", meta.head},
                         {"tokenizer", meta.tokenizer},
                         {"max_len", meta.max_len},
                         {"word_tags", meta.word_tags},
                         {"vocab", meta.vocab},
                         {"labels", meta.labels}};
  std::string vocab, labels;
  for (const auto& v : meta.vocab) vocab += v + "\n";
  for (const auto& l : meta.labels) labels += l + "\n";
  torch::jit::ExtraFilesMap extra = {{"config.yaml", meta.config_yaml}, {"vocab.txt", vocab}, {"labels.txt", labels}};
  if (!meta.tokenizer_model_file.empty()) {
    info["tokenizer_model"] = meta.tokenizer_model_file;
    extra[meta.tokenizer_model_file] = meta.tokenizer_model;
  }
  extra["seqenc.json"] = info.dump();
  std::ostringstream bytes;
  module.save(bytes, extra);
  write_file_atomic(path, bytes.str());  // WriteError naming the file and the cause; an old file stays whole
}

void export_run(const std::string& run_dir, const std::string& out_path, CheckpointKind checkpoint) {
  auto run = load_run(run_dir, checkpoint);
  ExportMetadata meta;
  meta.task = run.config.data.task.name();
  meta.head = name_of(run.task.head);
  meta.tokenizer = run.config.data.tokenizer.name();
  meta.max_len = run.model->max_input_len();
  meta.vocab = run.task.vocab.tokens();
  meta.labels = run.task.label_names;
  meta.config_yaml = to_yaml(run.config);
  if (run.task.tokenizer) {  // a file task's
    meta.tokenizer_model_file = tokenizer_model_file(run.config.data.tokenizer);
    meta.tokenizer_model = run.task.tokenizer->model_bytes();
    meta.word_tags = run.task.head == HeadKind::tag && run.task.tokenizer->splits_words();
  }
  auto module = script_model(*run.model, meta);
  const auto parent = std::filesystem::path(out_path).parent_path();
  std::error_code error;
  if (!parent.empty() && !std::filesystem::create_directories(parent, error) && error) {
    throw WriteError("cannot write " + out_path + ": " + error.message());
  }
  save_scripted(module, meta, out_path);
}

}  // namespace seqenc
