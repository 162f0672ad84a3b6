#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <torch/torch.h>

#include "helpers.h"
#include "seqenc/data/batching.h"
#include "seqenc/data/synthetic.h"
#include "seqenc/data/text_files.h"
#include "seqenc/data/token_counts.h"
#include "seqenc/nn/heads.h"
#include "seqenc/strings.h"

using namespace seqenc;
namespace fs = std::filesystem;

namespace {
DataOptions small(const std::string& task) {
  DataOptions o;
  o.task = TaskName(task);
  o.train_size = 50;
  o.valid_size = 10;
  o.test_size = 10;
  o.symbols = 8;
  o.min_len = 20;
  o.seq_len = 30;
  o.min_distance = 2;
  o.max_distance = 9;
  o.pairs = 5;
  return o;
}

std::vector<int32_t> example_tokens(const Dataset& d, int64_t i) {
  return {d.tokens.begin() + d.offsets[i], d.tokens.begin() + d.offsets[i + 1]};
}

// A scratch file that is removed at the end of the test.
struct TempFile {
  fs::path path;
  explicit TempFile(const std::string& content, const std::string& name = "data.tsv") {
    static int counter = 0;
    path = fs::temp_directory_path() /
           ("seqenc_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++) + "_" + name);
    std::ofstream(path, std::ios::binary) << content;
  }
  ~TempFile() { fs::remove(path); }
  std::string str() const { return path.string(); }
};

int listops_value(const Vocabulary& v, const std::vector<int32_t>& tokens, size_t& i) {
  const std::string& t = v.token(tokens[i++]);
  if (t.size() == 1 && std::isdigit(static_cast<unsigned char>(t[0]))) return t[0] - '0';
  std::vector<int> args;
  while (v.token(tokens[i]) != "]") args.push_back(listops_value(v, tokens, i));
  ++i;
  std::sort(args.begin(), args.end());
  if (t == "[MIN") return args.front();
  if (t == "[MAX") return args.back();
  if (t == "[MED") return args[(args.size() - 1) / 2];
  int sum = 0;
  for (int a : args) sum += a;
  return sum % 10;
}
}  // namespace

TEST_CASE("every generator: the same seed gives the same data, another seed other data", "[data]") {
  for (const auto& name : seqenc::test::synthetic_tasks()) {
    INFO(name);
    auto o = small(name);
    auto a = load_task(o), b = load_task(o);
    CHECK(a.train.tokens == b.train.tokens);
    CHECK(a.train.labels == b.train.labels);
    CHECK(a.test.tokens == b.test.tokens);
    CHECK(a.train.tokens != a.valid.tokens);
    o.seed = 2;
    auto c = load_task(o);
    CHECK(a.train.tokens != c.train.tokens);
  }
}

TEST_CASE("lag: each query's label is the symbol exactly d positions earlier", "[data]") {
  auto o = small("lag");
  auto task = load_task(o);
  CHECK(task.head == HeadKind::tag);
  CHECK(task.group_name == "distance");
  std::set<int32_t> seen;
  for (int64_t i = 0; i < task.train.size(); ++i) {
    auto tokens = example_tokens(task.train, i);
    const auto n = static_cast<int64_t>(tokens.size());
    CHECK(n >= o.min_len);
    CHECK(n <= o.seq_len);
    for (int64_t t = 0; t < n; ++t) {
      const int64_t k = task.train.offsets[i] + t;
      const int32_t label = task.train.labels[k], d = task.train.groups[k];
      if (label == kIgnoreLabel) continue;
      REQUIRE(d >= o.min_distance);
      REQUIRE(d <= o.max_distance);
      CHECK(task.vocab.token(tokens[t]) == "?" + std::to_string(d));
      CHECK(task.vocab.token(tokens[t - d]) == "s" + std::to_string(label));
      seen.insert(d);
    }
  }
  CHECK(seen.size() == static_cast<size_t>(o.max_distance - o.min_distance + 1));
}

TEST_CASE("copy and reverse: the label at the j-th blank is x_j or x_(m+1-j)", "[data]") {
  for (std::string name : {"copy", "reverse"}) {
    auto task = load_task(small(name));
    auto tokens = example_tokens(task.train, 0);
    const auto n = static_cast<int64_t>(tokens.size()), m = (n - 1) / 2;
    REQUIRE(n % 2 == 1);
    CHECK(task.vocab.token(tokens[m]) == "=");
    for (int64_t j = 0; j < m; ++j) {
      const int64_t source = name == "copy" ? j : m - 1 - j;
      const int64_t k = task.train.offsets[0] + m + 1 + j;
      CHECK(task.vocab.token(tokens[m + 1 + j]) == "_");
      CHECK("s" + std::to_string(task.train.labels[k]) == task.vocab.token(tokens[source]));
      CHECK(task.train.groups[k] == m + 1 + j - source);
    }
  }
}

TEST_CASE("recall: the label is the value paired with the queried key", "[data]") {
  auto task = load_task(small("recall"));
  for (int64_t i = 0; i < task.train.size(); ++i) {
    auto tokens = example_tokens(task.train, i);
    const auto n = tokens.size();
    CHECK(task.vocab.token(tokens[n - 2]) == "?");
    const int32_t label = task.train.labels[task.train.offsets[i] + static_cast<int64_t>(n) - 1];
    size_t found = 0;
    for (size_t p = 0; p + 2 < n; p += 2) {
      if (tokens[p] == tokens[n - 1]) {
        ++found;
        CHECK(task.vocab.token(tokens[p + 1]) == "v" + std::to_string(label));
      }
    }
    CHECK(found == 1);  // keys are distinct
  }
}

TEST_CASE("listops: labels equal an independent evaluation of the expression", "[data]") {
  auto task = load_task(small("listops"));
  CHECK(task.head == HeadKind::classify);
  CHECK(task.num_classes() == 10);
  for (int64_t i = 0; i < task.train.size(); ++i) {
    auto tokens = example_tokens(task.train, i);
    size_t pos = 0;
    CHECK(listops_value(task.vocab, tokens, pos) == task.train.labels[i]);
    CHECK(pos == tokens.size());
    CHECK(static_cast<int64_t>(tokens.size()) <= 30);
  }
}

TEST_CASE("synthetic options are checked with the key named", "[data]") {
  auto o = small("lag");
  o.max_distance = 25;
  CHECK_THROWS_WITH(load_task(o), Catch::Contains("data.max_distance: 25 must be below data.min_len 20"));
  auto r = small("recall");
  r.pairs = 20;
  CHECK_THROWS_WITH(load_task(r), Catch::Contains("data.pairs"));
  auto u = small("nope");
  CHECK_THROWS_WITH(load_task(u), Catch::Contains("unknown task 'nope'") && Catch::Contains("tsv_classify"));
}

TEST_CASE("tsv_classify round trip on the sample files", "[data][files]") {
  DataOptions o;
  o.task = TaskName("tsv_classify");
  o.train = SEQENC_SOURCE_DIR "/data/reviews.train.tsv";
  o.valid = SEQENC_SOURCE_DIR "/data/reviews.valid.tsv";
  o.test = SEQENC_SOURCE_DIR "/data/reviews.test.tsv";
  auto task = load_task(o);
  CHECK(task.head == HeadKind::classify);
  CHECK(task.label_names == std::vector<std::string>{"negative", "positive"});
  CHECK(task.train.size() == 800);
  CHECK(task.valid.size() == 100);
  std::ifstream in(o.train);
  std::string line;
  std::getline(in, line);
  const auto tab = line.find('\t');
  auto words = seqenc::test::tokenize("whitespace", line.substr(0, tab));
  auto ids = example_tokens(task.train, 0);
  REQUIRE(ids.size() == words.size());
  for (size_t i = 0; i < ids.size(); ++i) CHECK(task.vocab.token(ids[i]) == words[i]);
  CHECK(task.label_names[task.train.labels[0]] == line.substr(tab + 1));
}

TEST_CASE("tsv_tag round trip, split from one file by ratio and seed", "[data][files]") {
  DataOptions o;
  o.task = TaskName("tsv_tag");
  o.train = SEQENC_SOURCE_DIR "/data/tags.tsv";
  auto task = load_task(o);
  CHECK(task.head == HeadKind::tag);
  CHECK(task.train.size() + task.valid.size() + task.test.size() == 1000);
  CHECK(task.valid.size() > 50);
  CHECK(task.test.size() > 50);
  CHECK(task.label_names == std::vector<std::string>{"ADJ", "ADP", "ADV", "DET", "NOUN", "VERB"});
  for (int64_t i = 0; i < 5; ++i) {
    auto ids = example_tokens(task.train, i);
    for (size_t j = 0; j < ids.size(); ++j) {
      const auto& word = task.vocab.token(ids[j]);
      const auto& tag = task.label_names[task.train.labels[task.train.offsets[i] + static_cast<int64_t>(j)]];
      if (word == "the" || word == "a") CHECK(tag == "DET");
    }
  }
  auto again = load_task(o);
  CHECK(again.valid.tokens == task.valid.tokens);
  o.seed = 9;
  CHECK(load_task(o).valid.tokens != task.valid.tokens);
}

TEST_CASE("text_lm: next-token windows with <eos> between lines", "[data][files]") {
  TempFile f("a b c\n\nd e\n", "lm.txt");
  DataOptions o;
  o.task = TaskName("text_lm");
  o.train = o.valid = o.test = f.str();
  o.max_len = 3;
  auto task = load_task(o);
  CHECK(task.head == HeadKind::lm);
  CHECK(task.causal);
  // stream: a b c <eos> d e <eos> -> inputs [a b c] [<eos> d e], labels shifted by one
  REQUIRE(task.train.size() == 2);
  auto first = example_tokens(task.train, 0), second = example_tokens(task.train, 1);
  CHECK(task.vocab.token(first[0]) == "a");
  CHECK(task.vocab.token(second[0]) == "<eos>");
  CHECK(task.vocab.token(task.train.labels[2]) == "<eos>");
  CHECK(task.vocab.token(task.train.labels[5]) == "<eos>");
  CHECK(task.num_classes() == task.vocab.size());
}

TEST_CASE("char tokenizer splits UTF-8 code points", "[data][files]") {
  CHECK(seqenc::test::tokenize("char", "añ€") == std::vector<std::string>{"a", "ñ", "€"});
  CHECK(seqenc::test::tokenize("whitespace", "  two words ") == std::vector<std::string>{"two", "words"});
}

TEST_CASE("vocabulary: specials first, min_freq and max_size, save and load", "[data][files]") {
  auto v = Vocabulary::build({{"x", 3}, {"y", 1}, {"z", 5}, {"w", 3}}, 2, 7);
  CHECK(v.tokens() == std::vector<std::string>{"<pad>", "<unk>", "<bos>", "<eos>", "<cls>", "z", "x"});
  CHECK(v.id("y") == kUnkId);
  TempFile f("", "vocab.txt");
  v.save(f.str());
  CHECK(Vocabulary::load(f.str()).tokens() == v.tokens());
  TempFile bad("hello\n", "bad_vocab.txt");
  CHECK_THROWS_WITH(Vocabulary::load(bad.str()), Catch::Contains("special tokens"));
}

TEST_CASE("bad input files: one clear message naming file and line", "[data][files]") {
  DataOptions o;
  o.task = TaskName("tsv_classify");
  auto expect = [&](const std::string& content, const std::string& message, const std::string& task = "tsv_classify") {
    TempFile f(content);
    o.task = TaskName(task);
    o.train = o.valid = o.test = f.str();
    CHECK_THROWS_WITH(load_task(o), Catch::Contains(f.str()) && Catch::Contains(message));
  };
  expect("good text\tpos\nno tab here\n", ":2: expected text<TAB>label, found no tab");
  expect("", "file is empty");
  expect("\n\n", "file is empty");
  expect("a b\tX Y\nc d e\tX Y\n", ":2: 3 tokens but 2 tags", "tsv_tag");
  expect("ok\tpos\nbad \xff\xfe\tneg\n", ":2: invalid UTF-8");
  expect("a\tpos\n\tneg\n", ":2: empty text");
  expect("a\tpos\nb\t\n", ":2: empty label");
  expect("a\tpos\tneg\n", ":1: more than one tab");
  o.train = "/nonexistent/file.tsv";
  o.valid = o.test = "";
  CHECK_THROWS_WITH(load_task(o), Catch::Contains("/nonexistent/file.tsv: no such file"));
  o.train = "";
  CHECK_THROWS_WITH(load_task(o), Catch::Contains("data.train"));
}

TEST_CASE("a label unseen in training is an error at evaluation time", "[data][files]") {
  TempFile train("good film\tpos\nbad film\tneg\n");
  TempFile eval("odd film\tmeh\n");
  DataOptions o;
  o.task = TaskName("tsv_classify");
  o.train = o.valid = o.test = train.str();
  auto task = load_task(o);
  CHECK_THROWS_WITH(read_file(eval.str(), o, *task.tokenizer, task.vocab, task.label_names),
                    Catch::Contains(eval.str() + ":1: label 'meh' was not seen in training"));
  TempFile unlabelled("odd film\n");
  auto d = read_file(unlabelled.str(), o, *task.tokenizer, task.vocab, task.label_names, /*require_labels=*/false);
  CHECK(d.size() == 1);
  CHECK(d.labels[0] == kIgnoreLabel);
  CHECK(task.vocab.token(d.tokens[0]) == "<unk>");
}

TEST_CASE("sequences longer than max_len are truncated", "[data][files]") {
  TempFile f("a b c d e f\tX X X X X X\na b\tX X\n");
  DataOptions o;
  o.task = TaskName("tsv_tag");
  o.train = o.valid = o.test = f.str();
  o.max_len = 4;
  auto task = load_task(o);
  CHECK(task.train.length(0) == 4);
  CHECK(task.train.length(1) == 2);
  CHECK(task.train.labels.size() == 6);
}

TEST_CASE("batches: valid_lens are the real lengths, padding is <pad>", "[data][batching]") {
  auto task = load_task(small("lag"));
  Batcher batcher(task.train, 8, true, 3);
  for (const auto& indices : batcher.epoch(0)) {
    auto batch = batcher.collate(indices);
    for (size_t b = 0; b < indices.size(); ++b) {
      const auto len = batch.valid_lens[static_cast<int64_t>(b)].item<int64_t>();
      CHECK(len == task.train.length(indices[b]));
      if (len < batch.tokens.size(1)) {
        CHECK(batch.tokens[static_cast<int64_t>(b)].slice(0, len).eq(kPadId).all().item<bool>());
        CHECK(batch.labels[static_cast<int64_t>(b)].slice(0, len).eq(kIgnoreLabel).all().item<bool>());
      }
    }
  }
}

TEST_CASE("batches: over an epoch no example is lost or repeated, the last partial batch is kept", "[data][batching]") {
  auto task = load_task(small("listops"));  // 50 examples
  for (bool bucket : {false, true}) {
    Batcher batcher(task.train, 8, true, 5, bucket);
    CHECK(batcher.num_batches() == 7);
    auto batches = batcher.epoch(1);
    REQUIRE(batches.size() == 7);
    std::multiset<int64_t> seen;
    for (const auto& b : batches) seen.insert(b.begin(), b.end());
    CHECK(seen.size() == 50);
    CHECK(std::set<int64_t>(seen.begin(), seen.end()).size() == 50);
    CHECK(batcher.epoch(1) == batches);  // reproducible for resume
    CHECK(batcher.epoch(2) != batches);  // reshuffled each epoch
  }
  Batcher in_order(task.train, 8, false, 5);
  CHECK(in_order.epoch(0).front() == std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7});
  CHECK(in_order.epoch(0).back().size() == 2);
}

TEST_CASE("input limits: CRLF, a byte-order mark, NUL bytes, huge lines, empty splits, a capped vocabulary",
          "[data][files]") {
  DataOptions o;
  o.task = TaskName("tsv_classify");
  // CRLF line ends and a UTF-8 byte-order mark are handled: neither reaches a token or a label.
  TempFile windows("\xEF\xBB\xBFgood film\tpos\r\nbad film\tneg\r\n");
  o.train = o.valid = o.test = windows.str();
  auto task = load_task(o);
  CHECK(task.label_names == std::vector<std::string>{"neg", "pos"});
  CHECK(task.vocab.contains("good"));
  CHECK(task.vocab.size() == kNumSpecialTokens + 3);
  auto expect = [&](const std::string& content, const std::string& message) {
    TempFile f(content);
    o.train = o.valid = o.test = f.str();
    CHECK_THROWS_WITH(load_task(o), Catch::Contains(f.str() + message));
  };
  expect(std::string("ok\tpos\nb\0d\tneg\n", 14), ":2: NUL byte (is this a text file?)");
  o.max_line_bytes = 64;
  expect("ok\tpos\n" + std::string(1000, 'a') + "\tneg\n", ":2: line longer than data.max_line_bytes (64 bytes)");
  // The default bound (16 MiB) refuses a 20 MiB line without holding it whole.
  o.max_line_bytes = DataOptions{}.max_line_bytes;
  expect("ok\tpos\n" + std::string(20 << 20, 'a'), ":2: line longer than data.max_line_bytes (16777216 bytes)");
  // An empty split, given or drawn by ratio.
  TempFile train("a\tpos\nb\tneg\n"), empty("");
  o.train = train.str();
  o.valid = empty.str();
  o.test = train.str();
  CHECK_THROWS_WITH(load_task(o), Catch::Contains(empty.str() + ": file is empty"));
  o.valid = o.test = "";
  o.valid_ratio = 0.01;
  o.test_ratio = 0.01;
  CHECK_THROWS_WITH(load_task(o), Catch::Contains("the validation or test split is empty"));
  // 100,000 distinct tokens (each seen once) and 50 frequent ones: data.max_vocab and data.min_freq cap the
  // vocabulary; the rare tokens read as <unk>.
  std::string lines;
  for (int i = 0; i < 100000; ++i) lines += "rare" + std::to_string(i) + " w" + std::to_string(i % 50) + "\tpos\n";
  TempFile many(lines);
  o.train = o.valid = o.test = many.str();
  o.valid_ratio = o.test_ratio = 0.1;
  o.max_vocab = 40;
  o.min_freq = 2;
  task = load_task(o);
  CHECK(task.vocab.size() == 40);
  CHECK_FALSE(task.vocab.contains("rare7"));
  CHECK(task.train.tokens[0] == kUnkId);
}

TEST_CASE("counting the vocabulary holds at most data.max_distinct_tokens tokens and says when it pruned",
          "[data][files]") {
  TokenCounts exact(10);
  for (const auto* t : {"b", "a", "b", "c"}) exact.add(t);
  CHECK(exact.floor() == 0);
  CHECK(exact.in_first_use_order() == std::vector<std::pair<std::string, int64_t>>{{"b", 2}, {"a", 1}, {"c", 1}});
  // 10,000 tokens seen once among 20 seen every line: the table never passes its bound, the frequent survive.
  TokenCounts bounded(100);
  int64_t largest = 0;
  for (int i = 0; i < 10000; ++i) {
    bounded.add("rare" + std::to_string(i));
    bounded.add("w" + std::to_string(i % 20));
    largest = std::max(largest, bounded.distinct());
  }
  CHECK(largest <= 100);
  CHECK(bounded.floor() == 1);
  const auto counts = bounded.in_first_use_order();
  for (int w = 0; w < 20; ++w) {
    const auto it =
        std::find_if(counts.begin(), counts.end(), [&](const auto& c) { return c.first == "w" + std::to_string(w); });
    REQUIRE(it != counts.end());
    CHECK(it->second >= 500 - bounded.floor());  // low by at most floor()
  }
  // Through a file: the same vocabulary as exact counting, and a warning naming the key.
  std::string lines;
  for (int i = 0; i < 3000; ++i) lines += "rare" + std::to_string(i) + " w" + std::to_string(i % 20) + "\tpos\n";
  TempFile f(lines);
  DataOptions o;
  o.task = TaskName("tsv_classify");
  o.train = o.valid = o.test = f.str();
  o.max_vocab = 25;
  const auto exact_task = load_task(o);
  o.max_distinct_tokens = 50;
  const auto pruned = load_task(o);
  const auto& a = pruned.vocab.tokens();
  const auto& b = exact_task.vocab.tokens();
  CHECK(std::set<std::string>(a.begin(), a.end()) == std::set<std::string>(b.begin(), b.end()));
  CHECK_THAT(join(pruned.warnings(), "\n"), Catch::Contains("data.max_distinct_tokens (50)"));
  CHECK(exact_task.warnings().empty());
  o.max_distinct_tokens = 10;
  CHECK_THROWS_WITH(load_task(o), Catch::Contains("data.max_distinct_tokens: must be >= data.max_vocab"));
}

TEST_CASE("vocabulary and labels files: an empty or repeated entry is an error naming file and line", "[data][files]") {
  TempFile repeated("<pad>\n<unk>\n<bos>\n<eos>\n<cls>\nfilm\nthe\nfilm\n", "vocab.txt");
  CHECK_THROWS_WITH(Vocabulary::load(repeated.str()), repeated.str() + ":8: entry repeats line 6");
  TempFile empty("neg\n\npos\n", "labels.txt");
  CHECK_THROWS_WITH(load_lines(empty.str()), empty.str() + ":2: empty entry");
  TempFile foreign("film\n", "vocab.txt");
  CHECK_THROWS_WITH(Vocabulary::load(foreign.str()), Catch::StartsWith(foreign.str() + ": vocabulary does not start"));
  // Entries are kept byte for byte: a char-tokenizer vocabulary may hold a space or a carriage return.
  const std::vector<std::string> odd = {"<pad>", "<unk>", "<bos>", "<eos>", "<cls>", " ", "\r", "\xc3\xa9"};
  TempFile saved("", "vocab.txt");
  save_lines(saved.str(), odd);
  CHECK(load_lines(saved.str()) == odd);
}

TEST_CASE("an error message is one line whatever it quotes", "[data]") {
  CHECK(std::string(DataError("f.tsv:1: label 'a\nb\r\x01' was not seen").what()) ==
        "f.tsv:1: label 'a\\nb\\r\\x01' was not seen");
  CHECK(std::string(ConfigError("tabs\tstay").what()) == "tabs\tstay");
}
