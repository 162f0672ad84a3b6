#include "seqenc/data/data_keys.h"

#include "seqenc/data/task.h"
#include "seqenc/data/tokenizer.h"

namespace seqenc {

void add_data_keys(Schema& s, DataOptions& d) {
  s.add("data.task", d.task, "task or file format", task_names());
  s.add("data.train", d.train, "training file");
  s.add("data.valid", d.valid, "validation file (empty: split data.train)");
  s.add("data.test", d.test, "test file (empty: split data.train)");
  s.add("data.valid_ratio", d.valid_ratio, "share of data.train lines for validation when split");
  s.add("data.test_ratio", d.test_ratio, "share of data.train lines for testing when split");
  s.add("data.tokenizer", d.tokenizer, "tokenizer for files", tokenizer_names());
  s.add("data.min_freq", d.min_freq, "minimum training count for a vocabulary entry");
  s.add("data.max_vocab", d.max_vocab, "maximum vocabulary size, specials included");
  s.add("data.max_line_bytes", d.max_line_bytes, "longest line of a data file, in bytes; a longer one is an error");
  s.add("data.max_distinct_tokens", d.max_distinct_tokens,
        "distinct tokens counted exactly when building the vocabulary; past it the rarest are pruned (bounded memory)");
  s.add("data.max_len", d.max_len, "longest sequence; longer ones are truncated");
  s.add("data.seed", d.seed, "seed for synthetic data and file splits");
  s.add("data.train_size", d.train_size, "synthetic training examples");
  s.add("data.valid_size", d.valid_size, "synthetic validation examples");
  s.add("data.test_size", d.test_size, "synthetic test examples");
  s.add("data.symbols", d.symbols, "distinct content symbols (synthetic)");
  s.add("data.min_len", d.min_len, "shortest synthetic sequence");
  s.add("data.seq_len", d.seq_len, "longest synthetic sequence");
  s.add("data.min_distance", d.min_distance, "smallest lookup distance (lag)");
  s.add("data.max_distance", d.max_distance, "largest lookup distance (lag)");
  s.add("data.queries", d.queries, "query positions per sequence (lag)");
  s.add("data.pairs", d.pairs, "most key-value pairs (recall)");
  s.add("data.max_depth", d.max_depth, "deepest nesting (listops)");
  s.add("data.max_args", d.max_args, "most arguments per operator (listops)");
  s.add("data.words", d.words, "lexicon size: words of 2-6 symbols (segment)");
}

}  // namespace seqenc
