#include "seqenc/tools/predict.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>
#include <torch/script.h>
#include <torch/torch.h>

#include "seqenc/data/line_reader.h"
#include "seqenc/data/tokenizer.h"
#include "seqenc/error.h"
#include "seqenc/files.h"
#include "seqenc/tools/export.h"
#include "seqenc/version.h"
#include "seqenc/zip_archive.h"

namespace seqenc {

namespace {
// A file that is not an export, or an export of a newer format than this seqenc reads: one line saying so.
void check_export_format(const std::string& path, const nlohmann::json& info) {
  const std::string format = info.value("format", ""), prefix = kExportFormatPrefix;
  if (format.rfind(prefix, 0) != 0) throw ExportError(path + ": not a seqenc export");
  const std::string number = format.substr(prefix.size());
  if (number.empty() || number.find_first_not_of("0123456789") != std::string::npos) {
    throw ExportError(path + ": unknown export format '" + format + "'");
  }
  if (std::stol(number) > kExportFormatVersion) {
    throw ExportError(path + ": export format " + number + " (written by seqenc " +
                      info.value("seqenc_version", std::string("?")) + ") is newer than this seqenc " + kVersion +
                      " reads (format " + std::to_string(kExportFormatVersion) + "); use a newer seqenc");
  }
}

// What predict needs from an export's seqenc.json; a damaged one is one line, never a JSON library's exception.
struct ExportInfo {
  HeadKind head;
  std::shared_ptr<const Tokenizer> tokenizer;
  int64_t max_len;
  std::vector<std::string> labels;
  Vocabulary vocab;
};

// The export's tokenizer: one with a model loads the model the export carries, which must give its vocabulary.
std::shared_ptr<const Tokenizer> export_tokenizer(const std::string& path, const nlohmann::json& info,
                                                  const torch::jit::ExtraFilesMap& extra, const Vocabulary& vocab) {
  DataOptions data;
  data.tokenizer = TokenizerName(info.value("tokenizer", ""));
  const auto model_file = tokenizer_model_file(data.tokenizer);
  if (model_file.empty()) return make_tokenizer(data);
  const auto model = extra.find(model_file);
  if (info.value("tokenizer_model", "") != model_file || model == extra.end() || model->second.empty()) {
    throw ExportError(path + ": no " + model_file + " inside for tokenizer " + data.tokenizer.name());
  }
  auto tokenizer = load_tokenizer(data.tokenizer, model->second, path + ": " + model_file);
  if (Vocabulary::with_pieces(tokenizer->pieces()).tokens() != vocab.tokens()) {
    throw ExportError(path + ": " + model_file + " does not match the vocabulary in seqenc.json");
  }
  return tokenizer;
}

ExportInfo export_info(const std::string& path, const nlohmann::json& info, const torch::jit::ExtraFilesMap& extra) {
  try {
    const auto head = parse_choice<HeadKind>(info.value("head", ""));
    if (!head) throw ExportError(path + ": unknown head in seqenc.json");
    const auto max_len = info.at("max_len").get<int64_t>();
    if (max_len < 1) throw ExportError(path + ": max_len " + std::to_string(max_len) + " in seqenc.json");
    Vocabulary vocab(info.at("vocab").get<std::vector<std::string>>());
    auto tokenizer = export_tokenizer(path, info, extra, vocab);
    return {*head, tokenizer, max_len, info.at("labels").get<std::vector<std::string>>(), std::move(vocab)};
  } catch (const nlohmann::json::exception& e) {
    throw ExportError(path + ": damaged seqenc.json (" + e.what() + ")");
  } catch (const DataError& e) {
    throw ExportError(path + ": seqenc.json: " + e.what());
  }
}

// Predicts sequences [start, end) as one padded batch, appending to out.
void predict_batch(torch::jit::Module& module, const ExportInfo& e, const std::vector<PredictionInput>& sequences,
                   size_t start, size_t end, Precision precision, std::vector<Prediction>& out) {
  int64_t n = 1;
  for (size_t i = start; i < end; ++i) n = std::max<int64_t>(n, static_cast<int64_t>(sequences[i].ids.size()));
  auto tokens = torch::full({static_cast<int64_t>(end - start), n}, kPadId, torch::kLong);
  auto lens = torch::empty({static_cast<int64_t>(end - start)}, torch::kLong);
  for (size_t i = start; i < end; ++i) {
    const auto b = static_cast<int64_t>(i - start), len = static_cast<int64_t>(sequences[i].ids.size());
    lens[b] = len;
    tokens[b].slice(0, 0, len).copy_(torch::tensor(sequences[i].ids, torch::kLong));
  }
  torch::Tensor logits;
  {
    PrecisionScope scope(precision);
    logits = module.forward({tokens, lens}).toTensor();
  }
  auto probs = torch::softmax(logits.to(torch::kFloat64), -1);
  auto [best, index] = probs.max(-1);
  // Read results through flat pointers: one .item() per token would dominate a long file.
  best = best.contiguous();
  index = index.contiguous();
  const double* best_p = best.data_ptr<double>();
  const int64_t* index_p = index.data_ptr<int64_t>();
  const int64_t row = e.head == HeadKind::classify ? 1 : n;
  for (size_t i = start; i < end; ++i) {
    const auto b = static_cast<int64_t>(i - start);
    Prediction p;
    if (e.head == HeadKind::classify) {
      p.labels.push_back(e.labels.at(static_cast<size_t>(index_p[b])));
      p.probabilities.push_back(best_p[b]);
      auto row = probs[b].contiguous();
      p.distribution.emplace_back(row.data_ptr<double>(), row.data_ptr<double>() + row.numel());
    } else {
      for (const int64_t j : sequences[i].reported) {
        p.labels.push_back(e.labels.at(static_cast<size_t>(index_p[b * row + j])));
        p.probabilities.push_back(best_p[b * row + j]);
      }
    }
    out.push_back(std::move(p));
  }
}

}  // namespace

std::vector<PredictionInput> read_prediction_input(const std::string& path, HeadKind head, const Tokenizer& tokenizer,
                                                   int64_t max_len, const Vocabulary& vocab, int64_t max_line_bytes) {
  LineReader reader(path, max_line_bytes);
  std::vector<PredictionInput> sequences;
  std::string line;
  const bool words = head == HeadKind::tag && tokenizer.splits_words();
  std::vector<int64_t> first_pieces;
  while (reader.next(line)) {
    const auto text = head == HeadKind::lm ? line : line.substr(0, line.find('\t'));  // labels, if any, are ignored
    auto tokens = words ? tokenize_words(tokenizer, text, first_pieces) : tokenizer.tokenize(text);
    if (tokens.empty()) continue;
    if (static_cast<int64_t>(tokens.size()) > max_len) tokens.resize(static_cast<size_t>(max_len));
    PredictionInput input;
    for (const auto& t : tokens) input.ids.push_back(vocab.id(t));
    for (int64_t j = 0; j < static_cast<int64_t>(tokens.size()); ++j) input.reported.push_back(j);
    if (words) {
      input.reported.clear();
      for (const auto j : first_pieces) {
        if (j < max_len) input.reported.push_back(j);
      }
    }
    sequences.push_back(std::move(input));
  }
  if (sequences.empty()) throw DataError(path + ": no lines to predict");
  return sequences;
}

std::vector<Prediction> predict_file(const std::string& model_path, const std::string& input_path,
                                     std::vector<std::string>* class_names, Precision precision) {
  if (auto why = input_problem(model_path); !why.empty()) throw ExportError(model_path + ": " + why);
  std::string problem;
  const auto bytes = read_whole_file(model_path, &problem);
  if (!problem.empty()) throw ExportError(model_path + ": cannot read (" + problem + ")");
  problem = zip_archive_problem(bytes);  // before LibTorch parses anything: its reader trusts the file
  if (!problem.empty()) throw ExportError(model_path + ": not a seqenc export, or damaged (" + problem + ")");
  problem = torch_format_problem(bytes);  // LibTorch's own refusal is a trace about its reader
  if (!problem.empty()) throw ExportError(model_path + ": " + problem);
  torch::jit::ExtraFilesMap extra = {{"seqenc.json", ""}};
  for (const auto& name : tokenizer_names()) {
    if (auto file = tokenizer_model_file(TokenizerName(name)); !file.empty()) extra[file] = "";
  }
  torch::jit::Module module;
  try {
    std::istringstream in(bytes);
    module = torch::jit::load(in, torch::kCPU, extra);
  } catch (const c10::Error&) {
    throw ExportError(model_path + ": not a seqenc export (not a TorchScript file)");
  }
  nlohmann::json info;
  try {
    info = nlohmann::json::parse(extra["seqenc.json"]);
  } catch (const nlohmann::json::exception&) {
    throw ExportError(model_path + ": not a seqenc export (no seqenc.json inside)");
  }
  check_export_format(model_path, info);
  const auto e = export_info(model_path, info, extra);
  if (class_names) *class_names = e.labels;

  const auto sequences = read_prediction_input(input_path, e.head, *e.tokenizer, e.max_len, e.vocab);

  torch::NoGradGuard no_grad;
  std::vector<Prediction> out;
  const size_t batch = 64;
  for (size_t start = 0; start < sequences.size(); start += batch) {
    predict_batch(module, e, sequences, start, std::min(sequences.size(), start + batch), precision, out);
  }
  return out;
}

}  // namespace seqenc
