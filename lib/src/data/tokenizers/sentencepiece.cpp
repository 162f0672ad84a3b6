// SentencePiece subwords (Kudo and Richardson 2018, the library Debian packages): a model from data.spm_model, or
// one learned from a bounded, seeded sample of the training split. Ids: a model seqenc learns reserves
// SentencePiece's ids 0-4 for seqenc's specials (<pad> <unk> <bos> <eos> <cls>), so its ids are seqenc's; any
// model's pieces that text can become (all but control, unknown and unused ones) follow the specials in the
// model's order, and SentencePiece's unknown id is <unk> (docs/data-formats.md). SentencePiece itself runs in
// libseqenc_sentencepiece.so, in a link namespace of its own (sentencepiece_module.h says why).
#include <dlfcn.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <random>
#include <set>

#include "sentencepiece_module.h"
#include "seqenc/data/tokenizer.h"
#include "seqenc/files.h"
#include "seqenc/strings.h"

namespace seqenc {

namespace {

// Longer lines are learned from in parts of at most this many bytes (SentencePiece skips sentences over its
// max_sentence_length, 4192 bytes by default): the sample holds at most data.spm_sample_lines such parts.
constexpr size_t kMaxPartBytes = 4096;

// The module's functions, loaded once.
struct Module {
  SeqencSpmTrain train;
  SeqencSpmLoad load;
  SeqencSpmClose close;
  SeqencSpmSize size;
  SeqencSpmPiece piece;
  SeqencSpmEncode encode;
  SeqencSpmFree free;
};

template <typename F>
F function(void* handle, const char* name, const std::string& path) {
  void* f = dlsym(handle, name);
  if (!f) throw DataError("data.tokenizer: " + path + " lacks " + name + "; rebuild seqenc");
  return reinterpret_cast<F>(f);
}

// Where the module may be: the build tree's, beside an installed program (PREFIX/bin/../lib/...), the configured
// install prefix's.
std::vector<std::string> module_paths() {
  std::vector<std::string> paths = {SEQENC_SPM_MODULE};
  std::error_code error;
  const auto program = std::filesystem::read_symlink("/proc/self/exe", error);
  if (!error) paths.push_back((program.parent_path().parent_path() / SEQENC_SPM_MODULE_RELATIVE).string());
  paths.emplace_back(SEQENC_SPM_MODULE_INSTALLED);
  return paths;
}

Module load_module() {
  void* handle = nullptr;
  std::string path = SEQENC_SPM_MODULE, why = "not found";
  for (const auto& candidate : module_paths()) {
    if (!std::filesystem::exists(candidate)) continue;
    path = candidate;
    if ((handle = dlmopen(LM_ID_NEWLM, candidate.c_str(), RTLD_NOW | RTLD_LOCAL))) break;
    if (const char* error = dlerror()) why = error;
  }
  if (!handle) throw DataError("data.tokenizer: sentencepiece needs " + path + ", which does not load (" + why + ")");
  return {function<SeqencSpmTrain>(handle, "seqenc_spm_train", path),
          function<SeqencSpmLoad>(handle, "seqenc_spm_load", path),
          function<SeqencSpmClose>(handle, "seqenc_spm_close", path),
          function<SeqencSpmSize>(handle, "seqenc_spm_size", path),
          function<SeqencSpmPiece>(handle, "seqenc_spm_piece", path),
          function<SeqencSpmEncode>(handle, "seqenc_spm_encode", path),
          function<SeqencSpmFree>(handle, "seqenc_spm_free", path)};
}

const Module& module() {
  static const Module loaded = load_module();
  return loaded;
}

// What the module handed out, as a string (the buffer is released).
std::string take(SeqencSpmBuffer& buffer) {
  std::string bytes(buffer.data ? buffer.data : "", buffer.size);
  module().free(&buffer);
  return bytes;
}

class SentencePieceTokenizer : public Tokenizer {
 public:
  SentencePieceTokenizer(const std::string& bytes, const std::string& origin) : bytes_(bytes) {
    SeqencSpmBuffer error{nullptr, 0};
    processor_ = module().load(bytes.data(), bytes.size(), &error);
    if (!processor_) throw DataError(origin + ": not a SentencePiece model, or damaged (" + take(error) + ")");
    try {
      read_pieces(origin);
    } catch (...) {
      module().close(processor_);
      throw;
    }
  }
  ~SentencePieceTokenizer() override { module().close(processor_); }
  SentencePieceTokenizer(const SentencePieceTokenizer&) = delete;
  SentencePieceTokenizer& operator=(const SentencePieceTokenizer&) = delete;

  std::vector<std::string> tokenize(const std::string& text) const override {
    std::vector<int32_t> ids(text.size() + 8);
    int64_t n = encode(text, ids);
    if (n > static_cast<int64_t>(ids.size())) {
      ids.resize(static_cast<size_t>(n));
      n = encode(text, ids);
    }
    std::vector<std::string> out;
    out.reserve(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      const auto& token = token_of_id_.at(static_cast<size_t>(ids[static_cast<size_t>(i)]));
      if (!token.empty()) out.push_back(token);  // control ids never come out of encoding
    }
    return out;
  }
  bool splits_words() const override { return true; }
  std::vector<std::string> pieces() const override { return pieces_; }
  std::string model_bytes() const override { return bytes_; }

 private:
  // Each id's token (its piece; <unk> for the unknown id; "" for control and unused ids), and the pieces text can
  // become, none of which may be a special token's name or hold a line break (vocab.txt is one per line).
  void read_pieces(const std::string& origin) {
    const std::set<std::string> specials(special_tokens().begin(), special_tokens().end());
    const int32_t size = module().size(processor_);
    for (int32_t id = 0; id < size; ++id) {
      const char* data = nullptr;
      size_t length = 0;
      const int kind = module().piece(processor_, id, &data, &length);
      const std::string piece(data, length);
      token_of_id_.push_back(kind == kSpmUnknown ? special_tokens()[kUnkId] : kind == kSpmNormal ? piece : "");
      if (kind != kSpmNormal) continue;
      if (specials.count(piece) != 0) {
        throw DataError(origin + ": piece " + std::to_string(id) + " '" + piece +
                        "' is one of seqenc's special tokens (<pad> <unk> <bos> <eos> <cls>); make it a control "
                        "symbol or rename it");
      }
      if (piece.empty() || piece.find('\n') != std::string::npos) {
        throw DataError(origin + ": piece " + std::to_string(id) + " is empty or holds a line break");
      }
      pieces_.push_back(piece);
    }
  }

  int64_t encode(const std::string& text, std::vector<int32_t>& ids) const {
    SeqencSpmBuffer error{nullptr, 0};
    const auto n =
        module().encode(processor_, text.data(), text.size(), ids.data(), static_cast<int64_t>(ids.size()), &error);
    if (n < 0) throw DataError("SentencePiece cannot encode a line: " + take(error));
    return n;
  }

  void* processor_ = nullptr;
  std::string bytes_;
  std::vector<std::string> pieces_, token_of_id_;
};

// text in parts of at most kMaxPartBytes, cut at a space where there is one, never inside a UTF-8 character.
std::vector<std::string> parts_of(const std::string& text) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (text.size() - start > kMaxPartBytes) {
    size_t cut = text.rfind(' ', start + kMaxPartBytes);
    if (cut == std::string::npos || cut <= start) {
      cut = start + kMaxPartBytes;
      while (cut > start && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
    }
    parts.push_back(text.substr(start, cut - start));
    start = text[cut] == ' ' ? cut + 1 : cut;
  }
  if (start < text.size()) parts.push_back(text.substr(start));
  return parts;
}

// A uniform sample of at most `size` parts of the training texts (reservoir sampling, seeded), in file order.
std::vector<std::string> sample_text(const TextStream& training_text, int64_t size, uint64_t seed) {
  std::vector<std::pair<int64_t, std::string>> sample;
  std::mt19937_64 rng(seed);
  int64_t seen = 0;
  training_text([&](const std::string& text) {
    for (auto& part : parts_of(text)) {
      if (static_cast<int64_t>(sample.size()) < size) {
        sample.emplace_back(seen, std::move(part));
      } else if (const auto j = static_cast<int64_t>(rng() % static_cast<uint64_t>(seen + 1)); j < size) {
        sample[static_cast<size_t>(j)] = {seen, std::move(part)};
      }
      ++seen;
    }
  });
  std::sort(sample.begin(), sample.end());
  std::vector<std::string> texts;
  for (auto& [index, text] : sample) texts.push_back(std::move(text));
  return texts;
}

// SentencePiece's own message without its source location ("./src/x.cc(660) [condition] ").
std::string plain_message(std::string message) {
  if (message.rfind("./", 0) == 0) {
    if (const auto end = message.find("] "); end != std::string::npos) message = message.substr(end + 2);
  }
  std::replace(message.begin(), message.end(), '\n', ' ');
  return message;
}

// A file descriptor closed when it goes out of scope.
class Descriptor {
 public:
  explicit Descriptor(int fd) : fd_(fd) {}
  ~Descriptor() {
    if (fd_ >= 0) close(fd_);
  }
  Descriptor(const Descriptor&) = delete;
  Descriptor& operator=(const Descriptor&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

int memory_file(const char* name) {
  const int fd = memfd_create(name, MFD_CLOEXEC);
  if (fd < 0) throw DataError(std::string("data.tokenizer: cannot make a memory file (") + std::strerror(errno) + ")");
  return fd;
}

std::string read_back(const Descriptor& file) {
  std::string bytes;
  char chunk[1 << 16];
  for (off_t at = 0;;) {
    const ssize_t n = pread(file.get(), chunk, sizeof chunk, at);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return bytes;
    bytes.append(chunk, static_cast<size_t>(n));
    at += n;
  }
}

// What the trainer answered: its status (0: the model in `result`; 1: its message in `result`; any other: it
// ended the process, with `log` what it printed), or the signal that stopped it.
struct Learned {
  int status = 0, signal = 0;
  std::string result, log;
};

// SentencePiece's trainer ends the process (a CHECK, then exit(-1)) on some samples instead of answering with a
// status: one of only spaces and control or zero-width characters, say. It runs in a child process, so that such
// an end is one line here. The child uses only the module (which has its own libc), write(2) and _exit(2): the
// parent's threads and locks do not exist there.
Learned learn_in_child(const std::vector<const char*>& args, const std::vector<const char*>& texts,
                       const std::vector<size_t>& sizes, uint32_t seed) {
  const Module& m = module();  // loaded before the fork
  const Descriptor result(memory_file("seqenc-spm-model")), log(memory_file("seqenc-spm-log"));
  const pid_t parent = getpid();
  const pid_t child = fork();
  if (child < 0)
    throw DataError(std::string("data.tokenizer: cannot start SentencePiece (") + std::strerror(errno) + ")");
  if (child == 0) {
    // Ends with its parent (a killed run must not leave it holding the run's sockets and files).
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) _exit(4);
    dup2(log.get(), STDERR_FILENO);
    SeqencSpmBuffer out{nullptr, 0};
    const int status = m.train(args.data(), args.size(), texts.data(), sizes.data(), texts.size(), seed, &out);
    if (!write_all(result.get(), out.data, out.size)) _exit(3);
    _exit(status == 0 ? 0 : 1);
  }
  int wait_status = 0;
  while (waitpid(child, &wait_status, 0) < 0) {
    if (errno != EINTR)
      throw DataError(std::string("data.tokenizer: lost SentencePiece (") + std::strerror(errno) + ")");
  }
  Learned learned;
  learned.status = WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : -1;
  learned.signal = WIFSIGNALED(wait_status) ? WTERMSIG(wait_status) : 0;
  learned.result = read_back(result);
  learned.log = read_back(log);
  return learned;
}

// Why the trainer gave no model, in one line.
std::string failure(const Learned& learned) {
  if (learned.status == 1) return plain_message(learned.result);
  if (learned.signal != 0) return std::string("it was stopped by signal ") + strsignal(learned.signal);
  const auto first_line = learned.log.substr(0, learned.log.find('\n'));
  return "it ended with status " + std::to_string(learned.status) +
         (first_line.empty() ? std::string() : " (" + trim(first_line) + ")") +
         "; does the sample hold visible text? (lines of only spaces, control or zero-width characters hold none)";
}

// A model learned from a sample of the training split, as bytes. Same options and data: the same model.
std::string train_model(const DataOptions& o, const TextStream& training_text) {
  const auto texts = sample_text(training_text, o.spm_sample_lines, o.seed);
  if (texts.empty()) throw DataError(o.train + ": no text in the training split to learn a SentencePiece model from");
  const std::vector<std::string> args = {
      "vocab_size=" + std::to_string(o.spm_vocab_size), "model_type=" + name_of(o.spm_model_type),
      "character_coverage=" + std::to_string(o.spm_character_coverage),
      // seqenc's ids (vocabulary.h), so that a learned model's ids are seqenc's
      "pad_id=0", "unk_id=1", "bos_id=2", "eos_id=3", "pad_piece=<pad>", "unk_piece=<unk>", "bos_piece=<bos>",
      "eos_piece=<eos>", "control_symbols=<cls>", "max_sentence_length=4192",
      "num_threads=2",   // fixed: the learned model must not depend on the machine
      "minloglevel=2"};  // SentencePiece logs hundreds of lines; its errors come back as a status
  std::vector<const char*> arg_ptrs, text_ptrs;
  std::vector<size_t> sizes;
  for (const auto& a : args) arg_ptrs.push_back(a.c_str());
  for (const auto& t : texts) {
    text_ptrs.push_back(t.data());
    sizes.push_back(t.size());
  }
  const auto learned = learn_in_child(arg_ptrs, text_ptrs, sizes, static_cast<uint32_t>(o.seed % 0xFFFFFFFFu));
  if (learned.status != 0 || learned.signal != 0) {
    throw DataError(o.train + ": SentencePiece cannot learn a model of data.spm_vocab_size " +
                    std::to_string(o.spm_vocab_size) + " from the training split: " + failure(learned));
  }
  return learned.result;
}

std::shared_ptr<const Tokenizer> make(const DataOptions& o, const TextStream& training_text) {
  if (!o.spm_model.empty()) {
    if (auto why = input_problem(o.spm_model); !why.empty())
      throw DataError("data.spm_model: " + o.spm_model + ": " + why);
    std::string problem;
    const auto bytes = read_whole_file(o.spm_model, &problem);
    if (!problem.empty()) throw DataError("data.spm_model: " + o.spm_model + ": cannot read (" + problem + ")");
    return std::make_shared<SentencePieceTokenizer>(bytes, o.spm_model);
  }
  if (!training_text) {
    throw DataError("data.spm_model: empty, and there is no training split here to learn a SentencePiece model from");
  }
  return std::make_shared<SentencePieceTokenizer>(train_model(o, training_text),
                                                  o.train + " (its SentencePiece model)");
}

std::vector<std::string> problems(const DataOptions& o, bool chosen) {
  std::vector<std::string> p;
  if (!chosen) {
    const DataOptions d;
    const std::pair<bool, const char*> set[] = {
        {o.spm_model != d.spm_model, "data.spm_model"},
        {o.spm_vocab_size != d.spm_vocab_size, "data.spm_vocab_size"},
        {o.spm_model_type != d.spm_model_type, "data.spm_model_type"},
        {o.spm_character_coverage != d.spm_character_coverage, "data.spm_character_coverage"},
        {o.spm_sample_lines != d.spm_sample_lines, "data.spm_sample_lines"}};
    for (const auto& [differs, key] : set) {
      if (differs)
        p.push_back(std::string(key) + ": set, but data.tokenizer is " + o.tokenizer.name() + ", not sentencepiece");
    }
    return p;
  }
  if (o.spm_vocab_size <= kNumSpecialTokens) p.push_back("data.spm_vocab_size: must be > 5 (seqenc's special tokens)");
  if (!(o.spm_character_coverage >= 0.98 && o.spm_character_coverage <= 1.0)) {
    p.push_back("data.spm_character_coverage: must be between 0.98 and 1 (SentencePiece's range)");
  }
  if (o.spm_sample_lines < 1) p.push_back("data.spm_sample_lines: must be >= 1");
  return p;
}

}  // namespace

TokenizerSpec sentencepiece_tokenizer() {
  TokenizerSpec spec;
  spec.make = make;
  spec.problems = problems;
  spec.model_path = &DataOptions::spm_model;
  spec.model_key = "data.spm_model";
  spec.model_file = "spm.model";
  spec.load = [](const std::string& bytes, const std::string& origin) {
    return std::make_shared<SentencePieceTokenizer>(bytes, origin);
  };
  return spec;
}

}  // namespace seqenc
