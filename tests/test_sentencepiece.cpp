// data.tokenizer sentencepiece end to end: the model learned from the training split only and reproducibly, the
// vocabulary and its ids, tags per word, the model kept with a run and an export, resume, and bad input.
#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "cli.h"
#include "helpers.h"
#include "reliability.h"
#include "seqenc/data/text_files.h"
#include "seqenc/strings.h"
#include "seqenc/tools/predict.h"
#include "seqenc/train/run.h"

using namespace seqenc;
using namespace seqenc::test;
namespace fs = std::filesystem;

namespace {
const std::string kSource = SEQENC_SOURCE_DIR;

DataOptions subwords(const std::string& task, const std::string& train, int64_t vocab_size) {
  DataOptions o;
  o.task = TaskName(task);
  o.tokenizer = TokenizerName("sentencepiece");
  o.train = train;
  o.spm_vocab_size = vocab_size;
  return o;
}

void write(const fs::path& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

// A model made by SentencePiece's own trainer, as a user's would be (tests/fixtures/spm/make_models.py): its
// default ids <unk> 0, <s> 1, </s> 2 and 60 pieces learned from data/corpus.txt.
std::string foreign_model(const std::string& name) { return slurp(kSource + "/tests/fixtures/spm/" + name + ".model"); }

std::vector<std::string> ids_to_tokens(const Vocabulary& v, const Dataset& d, int64_t i) {
  std::vector<std::string> out;
  for (int64_t k = d.offsets[i]; k < d.offsets[i + 1]; ++k) out.push_back(v.token(d.tokens[k]));
  return out;
}
}  // namespace

TEST_CASE("sentencepiece: learned from the training split only, the same model on a rerun", "[data][sentencepiece]") {
  const auto dir = fresh_dir("spm_split");
  fs::create_directories(dir);
  const std::string train = slurp(kSource + "/data/reviews.train.tsv");
  std::string test;
  for (int i = 0; i < 20; ++i) test += "the film was жжж great\tpositive\n";  // a letter training never shows
  write(dir / "train.tsv", train);
  write(dir / "test.tsv", test);
  auto o = subwords("tsv_classify", (dir / "train.tsv").string(), 60);
  o.valid = o.test = (dir / "test.tsv").string();
  const auto task = load_task(o);
  const auto pieces = task.tokenizer->pieces();
  CHECK(task.vocab.size() == 60);  // the specials are the model's first five ids
  REQUIRE(static_cast<int64_t>(pieces.size()) == 55);
  for (int64_t id = 0; id < kNumSpecialTokens; ++id) CHECK(task.vocab.token(id) == special_tokens()[id]);
  CHECK(task.vocab.token(kNumSpecialTokens) == pieces[0]);
  for (const auto& p : pieces) CHECK(p.find("ж") == std::string::npos);
  const auto tokens = ids_to_tokens(task.vocab, task.test, 0);
  CHECK(std::count(tokens.begin(), tokens.end(), "<unk>") == 1);  // "жжж" is one unknown piece
  CHECK(load_task(o).tokenizer->model_bytes() == task.tokenizer->model_bytes());
  o.spm_model_type = SubwordModel::bpe;
  CHECK(load_task(o).tokenizer->model_bytes() != task.tokenizer->model_bytes());
  fs::remove_all(dir);
}

TEST_CASE("sentencepiece: the sample it learns from is bounded by data.spm_sample_lines", "[data][sentencepiece]") {
  // SentencePiece says how many pieces the text supports: fewer from a sample of 20 lines than from all 800.
  auto o = subwords("tsv_classify", kSource + "/data/reviews.train.tsv", 100000);
  o.valid = kSource + "/data/reviews.valid.tsv";
  o.test = kSource + "/data/reviews.test.tsv";
  auto most_pieces = [&o](int64_t sample) {
    o.spm_sample_lines = sample;
    try {
      load_task(o);
    } catch (const DataError& e) {
      const std::string message = e.what();
      const auto at = message.find("<= ");
      if (at != std::string::npos) return std::stol(message.substr(at + 3));
    }
    return 0L;
  };
  const auto from_sample = most_pieces(20), from_all = most_pieces(800);
  CHECK(from_sample > 0);
  CHECK(from_sample < from_all);
}

TEST_CASE("sentencepiece: tsv_tag keeps one tag per word, on the word's first piece", "[data][sentencepiece]") {
  auto o = subwords("tsv_tag", kSource + "/data/tags.tsv", 40);  // few pieces: most words split
  o.valid = o.test = o.train;                                    // the whole file in each split
  const auto task = load_task(o);
  int64_t words = 0, tagged = 0, later_pieces = 0;
  std::istringstream lines(slurp(o.train));
  for (std::string line; std::getline(lines, line);) words += static_cast<int64_t>(split_whitespace(line).size()) / 2;
  for (int64_t i = 0; i < task.train.size(); ++i) {
    const auto tokens = ids_to_tokens(task.vocab, task.train, i);
    for (size_t k = 0; k < tokens.size(); ++k) {
      const bool first = tokens[k].rfind("\xe2\x96\x81", 0) == 0;  // "▁" begins a word's first piece
      const bool labelled = task.train.labels[static_cast<size_t>(task.train.offsets[i]) + k] != kIgnoreLabel;
      CHECK(first == labelled);
      tagged += labelled ? 1 : 0;
      later_pieces += first ? 0 : 1;
    }
  }
  CHECK(tagged == words);
  CHECK(later_pieces > words / 2);  // many words are in several pieces
  std::vector<int64_t> first_pieces;
  const auto the = task.tokenizer->tokenize("the"), riverbank = task.tokenizer->tokenize("riverbank");
  CHECK(tokenize_words(*task.tokenizer, " the  riverbank ", first_pieces).size() == the.size() + riverbank.size());
  CHECK(first_pieces == std::vector<int64_t>{0, static_cast<int64_t>(the.size())});
}

TEST_CASE("sentencepiece: a given model's pieces follow the specials, and unknown ids are <unk>",
          "[data][sentencepiece]") {
  const auto dir = fresh_dir("spm_given");
  fs::create_directories(dir);
  write(dir / "m.model", foreign_model("corpus_unigram"));  // SentencePiece's defaults: <unk> 0, <s> 1, </s> 2
  auto o = subwords("text_lm", kSource + "/data/corpus.txt", 8000);
  o.spm_model = (dir / "m.model").string();
  const auto task = load_task(o);
  CHECK(task.vocab.size() == kNumSpecialTokens + 57);  // 60 ids less its unknown and two control pieces
  CHECK(task.tokenizer->model_bytes() == slurp(dir / "m.model"));
  const auto tokens = task.tokenizer->tokenize("the quick жж cat");
  CHECK(std::count(tokens.begin(), tokens.end(), "<unk>") == 1);
  for (const auto& t : tokens) CHECK(task.vocab.contains(t));
  fs::remove_all(dir);
}

TEST_CASE("sentencepiece: bad models, sizes and keys are one line naming the file or key", "[data][sentencepiece]") {
  const auto dir = fresh_dir("spm_bad");
  fs::create_directories(dir);
  auto o = subwords("tsv_classify", kSource + "/data/reviews.train.tsv", 40);
  o.valid = kSource + "/data/reviews.valid.tsv";
  o.test = kSource + "/data/reviews.test.tsv";
  auto fails = [&o](const std::string& model, const std::string& message) {
    o.spm_model = model;
    INFO(model);
    CHECK_THROWS_WITH(load_task(o), Catch::Contains(message) && !Catch::Contains("\n"));
  };
  fails((dir / "missing.model").string(), "data.spm_model: " + (dir / "missing.model").string() + ": no such file");
  write(dir / "damaged.model", foreign_model("corpus_unigram").substr(0, 100));
  fails((dir / "damaged.model").string(), (dir / "damaged.model").string() + ": not a SentencePiece model");
  write(dir / "text.model", "this is not a model\n");
  fails((dir / "text.model").string(), (dir / "text.model").string() + ": not a SentencePiece model");
  write(dir / "cls.model", foreign_model("cls_piece"));
  fails((dir / "cls.model").string(), (dir / "cls.model").string() + ": piece 3 '<cls>' is one of seqenc's special");
  o.spm_model = "";
  o.spm_vocab_size = 100000;
  CHECK_THROWS_WITH(load_task(o),
                    Catch::Contains(o.train + ": SentencePiece cannot learn a model of data.spm_vocab_size"
                                              " 100000") &&
                        Catch::Contains("Please set it to a value <=") && !Catch::Contains("\n") &&
                        !Catch::Contains(".cc("));
  DataOptions words;
  words.spm_vocab_size = 100;
  words.spm_model = "x.model";
  const auto problems = data_problems(words);
  CHECK(std::find(problems.begin(), problems.end(),
                  "data.spm_vocab_size: set, but data.tokenizer is whitespace, not sentencepiece") != problems.end());
  CHECK(std::find(problems.begin(), problems.end(),
                  "data.spm_model: set, but data.tokenizer is whitespace, not sentencepiece") != problems.end());
  auto small = subwords("tsv_classify", o.train, 5);
  small.spm_character_coverage = 0.5;
  CHECK_THAT(join(data_problems(small), "; "), Catch::Contains("data.spm_vocab_size: must be > 5") &&
                                                   Catch::Contains("data.spm_character_coverage: must be between"));
  fs::remove_all(dir);
}

TEST_CASE("sentencepiece: a sample with no visible text is one line naming the file, for either model type",
          "[data][sentencepiece]") {
  // SentencePiece's trainer ends the process on such a sample (a CHECK) instead of answering with a status.
  const auto dir = fresh_dir("spm_invisible");
  fs::create_directories(dir);
  const auto train = (dir / "invisible.txt").string();
  write(train, "\x01\x02\n\x03\n\xe2\x80\x8b \t\n");
  for (const auto type : {SubwordModel::unigram, SubwordModel::bpe}) {
    auto o = subwords("text_lm", train, 8);
    o.valid = o.test = train;
    o.spm_model_type = type;
    INFO(name_of(type));  // unigram ends the process; bpe answers with a status
    CHECK_THROWS_WITH(load_task(o),
                      Catch::StartsWith(train + ": SentencePiece cannot learn a model") && !Catch::Contains("\n"));
    if (type == SubwordModel::unigram)
      CHECK_THROWS_WITH(load_task(o), Catch::Contains("does the sample hold visible text?"));
  }
  // The process goes on: a model is still learned from a file that has text.
  auto o = subwords("tsv_classify", kSource + "/data/reviews.train.tsv", 40);
  o.valid = kSource + "/data/reviews.valid.tsv";
  o.test = kSource + "/data/reviews.test.tsv";
  CHECK(load_task(o).tokenizer->pieces().size() == 35);
  fs::remove_all(dir);
}

namespace {
const std::string kFast = " --set train.steps=20 --set train.epochs=0 --set train.eval_every=10 --set train.threads=1";
}

TEST_CASE("sentencepiece: a run keeps its model, and eval, export and predict tokenize as training did",
          "[cli][sentencepiece]") {
  const auto dir = fresh_dir("spm_run");
  const auto run = dir / "run";
  auto r = run_seqenc(
      std::string("train --config configs/tags.yaml --set data.train=" SEQENC_SOURCE_DIR "/data/tags.tsv") +
      " --set data.tokenizer=sentencepiece --set data.spm_vocab_size=40" + kFast + " --run-dir " + run.string());
  REQUIRE(r.status == 0);
  REQUIRE(fs::exists(run / "spm.model"));
  const auto vocab = load_lines((run / "vocab.txt").string());
  CHECK(vocab.size() == 40);
  const auto tokenizer = load_tokenizer(TokenizerName("sentencepiece"), slurp(run / "spm.model"), "spm.model");
  CHECK(Vocabulary::with_pieces(tokenizer->pieces()).tokens() == vocab);

  // eval counts words: as many labels as the test split has words.
  r = run_seqenc("eval --run " + run.string() + " --json");
  REQUIRE(r.status == 0);
  const auto metrics = nlohmann::json::parse(r.out);
  auto loaded = load_run(run.string());
  int64_t words = 0;
  for (const auto l : loaded.task.test.labels) words += l != kIgnoreLabel ? 1 : 0;
  CHECK(metrics["labels"].get<int64_t>() == words);
  CHECK(metrics["mean_length"].get<double>() > 0);

  // predict reads raw text and gives one tag per word.
  r = run_seqenc("export --run " + run.string() + " --out " + (dir / "tags.pt").string());
  REQUIRE(r.status == 0);
  write(dir / "input.txt", "the small cat sees a dog\nevery bird crosses the river today\n");
  r = run_seqenc("predict --model " + (dir / "tags.pt").string() + " --input " + (dir / "input.txt").string());
  REQUIRE(r.status == 0);
  const auto lines = split_whitespace(r.out);
  CHECK(lines.size() == 12);  // 6 + 6 words
  fs::remove_all(dir);
}

TEST_CASE("sentencepiece: resume keeps the run's model, and a changed model file is refused before anything is written",
          "[cli][sentencepiece][reliability]") {
  const auto dir = fresh_dir("spm_resume");
  fs::create_directories(dir);
  const auto run = dir / "run", model = dir / "mine.model";
  write(model, foreign_model("corpus_unigram"));
  const std::string train =
      "train --config configs/reviews.yaml --set data.tokenizer=sentencepiece --set data.spm_model=" + model.string() +
      kFast + " --run-dir " + run.string();
  REQUIRE(run_seqenc(train).status == 0);
  CHECK(slurp(run / "spm.model") == slurp(model));
  REQUIRE(run_seqenc(train + " --resume --set train.steps=30").status == 0);

  write(model, foreign_model("corpus_bpe"));
  const auto before = dir_contents(run);
  auto r = run_seqenc(train + " --resume --set train.steps=40");
  CHECK(r.status == 2);
  CHECK(error_lines(r.err) ==
        std::vector<std::string>{"seqenc: error: data.spm_model: " + model.string() +
                                 " is not the model this run was trained with (" + (run / "spm.model").string() +
                                 "): it changed since the run started; restore it, or train a "
                                 "new run"});
  CHECK(dir_contents(run) == before);

  // A learned model: resume uses the run's copy, and a run whose copy changed is refused by eval and resume.
  const auto learned = dir / "learned";
  const std::string learn =
      "train --config configs/reviews.yaml --set data.tokenizer=sentencepiece "
      "--set data.spm_vocab_size=50" +
      kFast + " --run-dir " + learned.string();
  REQUIRE(run_seqenc(learn).status == 0);
  write(learned / "spm.model", foreign_model("corpus_unigram"));
  const auto changed = dir_contents(learned);
  r = run_seqenc(learn + " --resume --set train.steps=30");
  CHECK(r.status == 2);
  CHECK_THAT(r.err,
             Catch::Contains((learned / "vocab.txt").string() + ": the run was trained with another vocabulary"));
  CHECK(dir_contents(learned) == changed);
  r = run_seqenc("eval --run " + learned.string());
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Catch::Contains((learned / "spm.model").string() + " does not match"));
  fs::remove_all(dir);
}

TEST_CASE("sentencepiece: command-line mistakes are one line and exit 2", "[cli][sentencepiece]") {
  auto r = run_seqenc(
      "train --config configs/reviews.yaml --set data.tokenizer=sentencepiece "
      "--set data.spm_model=/nonexistent/x.model --run-dir /tmp/seqenc_spm_never");
  CHECK(r.status == 2);
  CHECK(error_lines(r.err) ==
        std::vector<std::string>{"seqenc: error: data.spm_model: /nonexistent/x.model: no such file"});
  r = run_seqenc("train --config configs/reviews.yaml --set data.spm_vocab_size=300 --run-dir /tmp/seqenc_spm_never");
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Catch::Contains("data.spm_vocab_size: set, but data.tokenizer is whitespace, not sentencepiece"));
  r = run_seqenc(
      "train --config configs/reviews.yaml --set data.spm_model_type=wordpiece --run-dir /tmp/seqenc_spm_never");
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Catch::Contains("data.spm_model_type"));
  CHECK_FALSE(fs::exists("/tmp/seqenc_spm_never"));
}

namespace {
// A process's state letter and parent, from /proc/PID/stat; state 0 when it is gone.
std::pair<char, pid_t> proc_stat(const fs::path& proc_dir) {
  std::ifstream stat(proc_dir / "stat");
  std::string line;
  std::getline(stat, line);
  const auto close = line.rfind(')');  // the command name in parentheses may hold spaces
  if (close == std::string::npos) return {0, 0};
  std::istringstream rest(line.substr(close + 2));
  char state = 0;
  pid_t ppid = 0;
  rest >> state >> ppid;
  return {state, ppid};
}

// The processes whose parent is `parent`.
std::vector<pid_t> children_of(pid_t parent) {
  std::vector<pid_t> children;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const auto name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    if (proc_stat(entry.path()).second == parent) children.push_back(std::stoi(name));
  }
  return children;
}

// Whether `pid` still runs (a zombie has ended).
bool running(pid_t pid) {
  const char state = proc_stat("/proc/" + std::to_string(pid)).first;
  return state != 0 && state != 'Z';
}
}  // namespace

TEST_CASE("sentencepiece: a run killed while SentencePiece learns leaves no trainer behind", "[cli][sentencepiece]") {
  // SentencePiece learns in a child process; kill -9 of the run must end it too (it holds the run's files).
  const auto dir = fresh_dir("spm_killed");
  fs::create_directories(dir);
  const auto train = (dir / "big.txt").string();
  {
    std::ofstream out(train);
    std::mt19937 rng(3);
    for (int line = 0; line < 150000; ++line) {
      for (int w = 0; w < 12; ++w) out << (w ? " " : "") << "w" << rng() % 40000 << char('a' + rng() % 26);
      out << '\n';
    }
  }
  const auto pid = spawn_seqenc(
      {"train", "--config", kSource + "/configs/corpus_lm.yaml", "--set", "data.train=" + train, "--set",
       "data.valid=" + train, "--set", "data.test=" + train, "--set", "data.tokenizer=sentencepiece", "--set",
       "data.spm_vocab_size=8000", "--set", "data.spm_sample_lines=150000", "--run-dir", (dir / "run").string()},
      dir / "log");
  std::vector<pid_t> trainer;
  for (int i = 0; i < 600 && trainer.empty(); ++i) {  // up to a minute for the data to load
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    trainer = children_of(pid);
  }
  REQUIRE(trainer.size() == 1);
  kill(pid, SIGKILL);
  CHECK(wait_status(pid) == 128 + SIGKILL);
  bool ended = false;
  for (int i = 0; i < 100 && !ended; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    ended = !running(trainer[0]);
  }
  CHECK(ended);
  if (!ended) kill(trainer[0], SIGKILL);
  fs::remove_all(dir);
}
