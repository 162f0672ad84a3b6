// TorchScript export of a whole model (encoder and head) in eval mode.
//
// LibTorch's C++ frontend cannot script a torch::nn module, and its tracer
// freezes every size into a constant. So each encoder and head writes its
// forward pass as TorchScript source (SequenceModelImpl::torchscript_source,
// nn/torchscript.h), this compiles it with torch::jit (true dynamic shapes)
// and copies the weights across. Tests prove the scripted module equal to the
// eager one for every encoder and head.
#pragma once
#include <string>
#include <vector>

#include "seqenc/nn/heads.h"
#include "seqenc/train/run.h"

namespace torch::jit {
struct Module;
}

namespace seqenc {

// What a user needs to feed an exported model and read its output.
// seqenc.json's "format" is "seqenc-export-<version>"; the version grows only when older readers could not
// read the file. It also records the seqenc_version that wrote it.
inline constexpr const char* kExportFormatPrefix = "seqenc-export-";
inline constexpr int kExportFormatVersion = 1;

struct ExportMetadata {
  std::string task, head, tokenizer = "whitespace";
  int64_t max_len = 0;
  std::vector<std::string> vocab, labels;
  std::string config_yaml;  // the run's resolved configuration
  // A tokenizer with a model: the file the export keeps it in (seqenc.json's "tokenizer_model") and its bytes.
  std::string tokenizer_model_file, tokenizer_model;
  bool word_tags = false;  // a tag model over subwords: one tag per word, read at the word's first piece
};

// A scripted copy of model (weights copied, eval mode) carrying the metadata as attributes.
torch::jit::Module script_model(SequenceModelImpl& model, const ExportMetadata& metadata);
// Writes the scripted model with the metadata also as extra files
// (seqenc.json, config.yaml, vocab.txt, labels.txt, and the tokenizer's model, e.g. spm.model).
void save_scripted(torch::jit::Module& module, const ExportMetadata& metadata, const std::string& path);

// seqenc export: the run's checkpoint ("best" or "last") to a TorchScript file.
void export_run(const std::string& run_dir, const std::string& out_path,
                CheckpointKind checkpoint = CheckpointKind::best);

}  // namespace seqenc
