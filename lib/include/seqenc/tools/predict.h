// Inference from an exported TorchScript file: what seqenc predict does, and
// what a deployment in C++ does.
#pragma once
#include <string>
#include <vector>

#include "seqenc/data/dataset.h"
#include "seqenc/data/tokenizer.h"
#include "seqenc/data/vocabulary.h"
#include "seqenc/nn/precision.h"

namespace seqenc {

struct Prediction {
  std::vector<std::string> labels;                // one (classify) or one per token (tag, lm: the next token)
  std::vector<double> probabilities;              // the probability of each predicted label
  std::vector<std::vector<double>> distribution;  // classify: every class's probability (one row)
};

// Reads FILE in the training format (labels optional) and predicts each
// non-blank line with the exported model. Throws ExportError / DataError with
// a clear message for a file that is not a seqenc export or bad input. The
// export is fp32; Precision::bf16 runs its products in bf16 (LibTorch's CPU
// autocast), which is faster only where bf16 products are (bf16_support()).
std::vector<Prediction> predict_file(const std::string& model_path, const std::string& input_path,
                                     std::vector<std::string>* class_names = nullptr,
                                     Precision precision = Precision::fp32);

// One line to predict: its ids, cut to max_len, and the positions whose labels predict reports: every one, or,
// for a tag model over subwords, each word's first piece (a word cut off by max_len is not reported).
struct PredictionInput {
  std::vector<int64_t> ids;
  std::vector<int64_t> reported;
};

// What predict reads: one sequence per non-blank line of a file in the training format (labels, if any, are
// ignored), as ids in vocab. DataError naming file and line for bad input (see LineReader).
std::vector<PredictionInput> read_prediction_input(const std::string& path, HeadKind head, const Tokenizer& tokenizer,
                                                   int64_t max_len, const Vocabulary& vocab,
                                                   int64_t max_line_bytes = DataOptions{}.max_line_bytes);

}  // namespace seqenc
