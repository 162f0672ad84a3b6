#include "fuzz_targets.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <set>
#include <stdexcept>

#include <torch/torch.h>

#include "seqenc/data/text_files.h"
#include "seqenc/data/tokenizer.h"
#include "seqenc/data/vocabulary.h"
#include "seqenc/error.h"
#include "seqenc/tools/predict.h"
#include "seqenc/tools/tool_config.h"
#include "seqenc/train/checkpoint.h"
#include "seqenc/train/recipe.h"
#include "seqenc/train/tensorboard_events.h"
#include "seqenc/train/trainer.h"

namespace seqenc::fuzz {

namespace {

// An in-memory file that the parsers open by path, as they open users' files.
class MemoryFile {
 public:
  MemoryFile() : fd_(memfd_create("seqenc-fuzz", 0)), path_("/proc/self/fd/" + std::to_string(fd_)) {
    if (fd_ < 0) throw std::runtime_error("memfd_create failed");
  }
  ~MemoryFile() { close(fd_); }
  MemoryFile(const MemoryFile&) = delete;
  MemoryFile& operator=(const MemoryFile&) = delete;
  // Replaces the contents; returns the path to open.
  const std::string& hold(const void* data, size_t size) {
    if (ftruncate(fd_, 0) != 0) throw std::runtime_error("ftruncate failed");
    size_t done = 0;
    while (done < size) {
      const auto n = pwrite(fd_, static_cast<const char*>(data) + done, size - done, static_cast<off_t>(done));
      if (n <= 0) throw std::runtime_error("pwrite failed");
      done += static_cast<size_t>(n);
    }
    return path_;
  }
  const std::string& hold(const std::string& text) { return hold(text.data(), text.size()); }

 private:
  int fd_;
  std::string path_;
};

void require(bool ok, const std::string& what) {
  if (!ok) throw std::logic_error("fuzz invariant broken: " + what);
}

// seqenc's answer to bad input: one non-empty line that names the file. Anything but a seqenc::Error escapes.
template <class Run>
int answered(const std::string& path, Run&& run) {
  try {
    run();
  } catch (const Error& e) {
    const std::string message = e.what();
    require(!message.empty() && message.find('\n') == std::string::npos, "one line: " + message);
    require(message.find(path) != std::string::npos, "names " + path + ": " + message);
  }
  return 0;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    const auto end = std::min(text.find('\n', start), text.size());
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

// What every Dataset promises its readers: flat arrays that agree, ids inside the vocabulary, labels inside the
// classes (or ignored), lengths within max_len.
void check_dataset(const Dataset& d, int64_t vocab_size, int64_t classes, int64_t max_len) {
  require(!d.offsets.empty() && d.offsets.front() == 0 && d.offsets.back() == d.num_tokens(), "offsets span tokens");
  for (int64_t i = 0; i < d.size(); ++i) require(d.length(i) >= 1 && d.length(i) <= max_len, "example length");
  for (const auto t : d.tokens) require(t >= 0 && t < vocab_size, "token id inside the vocabulary");
  const auto expected = d.per_token_labels ? d.num_tokens() : d.size();
  require(static_cast<int64_t>(d.labels.size()) == expected, "one label per example or token");
  for (const auto l : d.labels) require(l == kIgnoreLabel || (l >= 0 && l < classes), "label inside the classes");
}

void check_vocabulary(const Vocabulary& v) {
  require(v.size() >= kNumSpecialTokens && v.token(kPadId) == "<pad>", "specials first");
  for (int64_t i = 0; i < v.size(); ++i) require(v.id(v.token(i)) == i, "ids are positions");
}

// A file task's promises: its vocabulary, distinct labels, and every split (and the file read again as evaluation
// reads it, labels optional) inside them.
void check_file_task(const DataOptions& o, const TaskData& task) {
  check_vocabulary(task.vocab);
  const std::set<std::string> distinct(task.label_names.begin(), task.label_names.end());
  require(distinct.size() == task.label_names.size() && !distinct.empty(), "labels are distinct");
  for (const auto* d : {&task.train, &task.valid, &task.test}) {
    check_dataset(*d, task.vocab.size(), task.num_classes(), o.max_len);
  }
  const auto again = read_file(o.train, o, *task.tokenizer, task.vocab, task.label_names, false);
  check_dataset(again, task.vocab.size(), task.num_classes(), o.max_len);
}

struct CheckpointModel {
  SequenceModel model{nullptr};
  std::unique_ptr<torch::optim::Adam> optimizer;
};

// A small transformer with one Adam step taken, so that its checkpoints carry optimizer state.
CheckpointModel& checkpoint_model() {
  static CheckpointModel m = [] {
    const auto config =
        load_config("", {"model.num_hiddens=8", "model.num_heads=2", "model.num_layers=1", "model.ffn_num_hiddens=16",
                         "data.seq_len=8", "data.min_len=4", "data.max_distance=2", "data.max_len=8"});
    TaskData task;
    task.head = HeadKind::classify;
    task.label_names = {"negative", "positive"};
    for (const auto* token : {"a", "b", "c"}) task.vocab.add(token);
    torch::manual_seed(1);
    CheckpointModel made;
    made.model = build_model(config, task);
    made.optimizer = std::make_unique<torch::optim::Adam>(made.model->parameters(), torch::optim::AdamOptions(1e-3));
    for (auto& p : made.model->parameters()) p.mutable_grad() = torch::ones_like(p);
    made.optimizer->step();
    return made;
  }();
  return m;
}

}  // namespace

int config(const uint8_t* data, size_t size) {
  static MemoryFile file, resolved;
  const std::string input(reinterpret_cast<const char*>(data), size);
  const auto nul = input.find('\0');
  const auto& path = file.hold(input.substr(0, nul));
  const auto overrides = nul == std::string::npos ? std::vector<std::string>{} : lines_of(input.substr(nul + 1));
  return answered(path, [&] {
    auto loaded = load_tool_config(path, overrides);
    apply_recipe(loaded);
    // The config.yaml a run writes must load back as itself: --resume reads it.
    const auto text = to_yaml(loaded);
    ToolConfig again;
    try {
      again = load_tool_config(resolved.hold(text));
    } catch (const Error& e) {
      require(false, std::string("the resolved configuration loads back: ") + e.what());
    }
    apply_recipe(again);
    require(to_yaml(again) == text, "the resolved configuration loads back as itself");
  });
}

int text_formats(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static MemoryFile file;
  const uint8_t mode = data[0];
  DataOptions o;
  const char* formats[] = {"tsv_classify", "tsv_tag", "text_lm"};
  o.task = TaskName(formats[static_cast<size_t>(mode & 3) % 3]);
  o.tokenizer = TokenizerName((mode & 4) ? "char" : "whitespace");
  o.max_vocab = (mode & 8) ? 8 : 64;
  o.max_distinct_tokens = 2 * o.max_vocab;  // pruning is exercised too
  o.min_freq = (mode & 16) ? 2 : 1;
  o.max_len = 1 + ((mode >> 5) & 3);
  o.max_line_bytes = 256;
  o.train = file.hold(data + 1, size - 1);
  if (mode & 128) o.valid = o.test = o.train;  // else split by ratio
  return answered(o.train, [&] { check_file_task(o, load_task(o)); });
}

namespace {
// A small SentencePiece model learned once from fixed text, for inputs that name a model file (data.spm_model).
const std::string& fixed_spm_model() {
  static const std::string bytes = [] {
    const std::vector<std::string> text = {"the small cat sees a dog near the old river",
                                           "every bird crosses the river today", "ein kleiner Hund läuft schnell",
                                           "le chat noir dort près de la fenêtre", "a red garden follows the child"};
    DataOptions o;
    o.tokenizer = TokenizerName("sentencepiece");
    o.spm_vocab_size = 60;
    return make_tokenizer(o,
                          [&text](const std::function<void(const std::string&)>& line) {
                            for (int copy = 0; copy < 20; ++copy)
                              for (const auto& t : text) line(t);
                          })
        ->model_bytes();
  }();
  return bytes;
}

// What predict reads of the same file with the task's tokenizer: ids in the vocabulary, reported positions inside
// the sequence, at most one per word for a tag model.
void check_prediction_input(const std::string& path, const TaskData& task, int64_t max_len) {
  for (const auto& input : read_prediction_input(path, task.head, *task.tokenizer, max_len, task.vocab, 256)) {
    require(!input.ids.empty() && static_cast<int64_t>(input.ids.size()) <= max_len, "sequence length");
    for (const auto id : input.ids) require(id >= 0 && id < task.vocab.size(), "id inside the vocabulary");
    for (const auto j : input.reported) require(j >= 0 && j < static_cast<int64_t>(input.ids.size()), "reported");
  }
}
}  // namespace

int subword_formats(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static MemoryFile file, model;
  static const std::string model_path = model.hold(fixed_spm_model());
  const uint8_t mode = data[0];
  DataOptions o;
  const char* formats[] = {"tsv_classify", "tsv_tag", "text_lm"};
  o.task = TaskName(formats[static_cast<size_t>(mode & 3) % 3]);
  o.tokenizer = TokenizerName("sentencepiece");
  if (mode & 4) o.spm_model = model_path;     // else learned from the file
  o.spm_vocab_size = 8 << ((mode >> 3) & 3);  // 8 to 64: often more than a small file supports
  o.spm_model_type = (mode & 32) ? SubwordModel::bpe : SubwordModel::unigram;
  o.spm_sample_lines = 64;
  o.max_len = (mode & 64) ? 3 : 24;
  o.max_line_bytes = 256;
  o.train = file.hold(data + 1, size - 1);
  if (mode & 128) o.valid = o.test = o.train;  // else split by ratio
  return answered(o.train, [&] {
    const auto task = load_task(o);
    check_file_task(o, task);
    require(task.vocab.size() == kNumSpecialTokens + static_cast<int64_t>(task.tokenizer->pieces().size()),
            "the vocabulary is the specials and the model's pieces");
    // The model as a run and an export keep it tokenizes the same.
    const auto saved = load_tokenizer(o.tokenizer, task.tokenizer->model_bytes(), o.train);
    require(saved->pieces() == task.tokenizer->pieces(), "a saved model loads back with its pieces");
    check_prediction_input(o.train, task, o.max_len);
  });
}

int vocabulary(const uint8_t* data, size_t size) {
  static MemoryFile file, saved;
  const auto& path = file.hold(data, size);
  answered(path, [&] { check_vocabulary(Vocabulary::load(path)); });
  return answered(path, [&] {
    const auto lines = load_lines(path);
    // What save_lines writes of them loads back as the same entries.
    std::string text;
    for (const auto& l : lines) text += l + '\n';
    require(load_lines(saved.hold(text)) == lines, "entries load back as saved");
  });
}

int checkpoint(const uint8_t* data, size_t size) {
  static MemoryFile file;
  auto& m = checkpoint_model();
  const auto& path = file.hold(data, size);
  return answered(path, [&] { load_checkpoint(path, *m.model, m.optimizer.get()); });
}

int predict_input(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static MemoryFile file;
  static const Vocabulary vocab({"<pad>", "<unk>", "<bos>", "<eos>", "<cls>", "a", "b", "\xc3\xa9", "the"});
  const uint8_t mode = data[0];
  const HeadKind heads[] = {HeadKind::classify, HeadKind::tag, HeadKind::lm};
  const auto head = heads[static_cast<size_t>(mode & 3) % 3];
  DataOptions options;
  options.tokenizer = TokenizerName((mode & 4) ? "char" : "whitespace");
  const auto tokenizer = make_tokenizer(options);
  const int64_t max_len = 1 + (mode >> 5);
  const auto& path = file.hold(data + 1, size - 1);
  return answered(path, [&] {
    const auto sequences = read_prediction_input(path, head, *tokenizer, max_len, vocab, 256);
    require(!sequences.empty(), "something to predict");
    for (const auto& s : sequences) {
      require(!s.ids.empty() && static_cast<int64_t>(s.ids.size()) <= max_len, "sequence length");
      require(s.reported.size() == s.ids.size(), "every position reported");
      for (const auto id : s.ids) require(id >= 0 && id < vocab.size(), "id inside the vocabulary");
    }
  });
}

int tensorboard_events(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  const auto read = read_event_records(bytes);
  // The records read are the file's first bytes, whole; reading just those again finds the same and nothing more.
  std::string kept;
  for (const auto& r : read.records) kept += r.frame;
  require(bytes.compare(0, kept.size(), kept) == 0, "records are the file's first bytes");
  require(read.damaged == (kept.size() != bytes.size()), "damaged exactly when bytes are left over");
  const auto again = read_event_records(kept);
  require(!again.damaged && again.records.size() == read.records.size(), "the intact records read back alone");
  return 0;
}

const std::vector<Target>& targets() {
  static const std::vector<Target> all = {
      {"config", config},
      {"text_formats", text_formats},
      {"subword_formats", subword_formats},
      {"vocabulary", vocabulary},
      {"checkpoint", checkpoint},
      {"predict_input", predict_input},
      {"tensorboard_events", tensorboard_events}};
  return all;
}

void write_seed_checkpoint(const std::string& path) {
  auto& m = checkpoint_model();
  TrainingState state;
  state.rank_generators = dropout_generator_state().unsqueeze(0);  // every key a checkpoint may hold
  save_checkpoint(path, *m.model, m.optimizer.get(), state);
}

void load_seed_checkpoint(const std::string& path) {
  auto& m = checkpoint_model();
  load_checkpoint(path, *m.model, m.optimizer.get());
}

}  // namespace seqenc::fuzz
