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
  s.add("data.spm_model", d.spm_model,
        "SentencePiece model file for data.tokenizer sentencepiece (empty: learn one from the training split)");
  s.add("data.spm_vocab_size", d.spm_vocab_size, "pieces of a learned SentencePiece model, the 5 specials included");
  s.add("data.spm_model_type", d.spm_model_type, "kind of SentencePiece model learned");
  s.add("data.spm_character_coverage", d.spm_character_coverage,
        "share of the training text's characters a learned model covers (0.98-1; the rest become <unk>)");
  s.add("data.spm_sample_lines", d.spm_sample_lines,
        "most training lines (4 KiB parts of longer ones) SentencePiece learns from, sampled with data.seed");
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
