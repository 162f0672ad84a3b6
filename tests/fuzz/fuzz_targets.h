// seqenc's input parsers as fuzz targets: each takes one input, runs it through one parser and checks what
// seqenc promises of it. A seqenc::Error with one non-empty line naming the file is a good answer; any other
// exception, a crash, a sanitizer report or a broken invariant (std::logic_error) is a finding.
// libFuzzer drives them (libfuzzer_main.cpp, -DSEQENC_FUZZ=ON); the test suite replays the seed corpus and the
// regressions in tests/fuzz/ with any compiler (tests/test_fuzz_corpus.cpp).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace seqenc::fuzz {

// YAML config text, then after a NUL byte, --set overrides one per line.
int config(const uint8_t* data, size_t size);
// First byte: format, tokenizer, limits and splits (see fuzz_targets.cpp); the rest: a data file.
int text_formats(const uint8_t* data, size_t size);
// The same with data.tokenizer sentencepiece: first byte: format, a fixed model or one learned from the file
// (vocabulary size, unigram or bpe), max_len and splits; the rest: a data file.
int subword_formats(const uint8_t* data, size_t size);
// A vocab.txt, then read again as a labels.txt.
int vocabulary(const uint8_t* data, size_t size);
// A checkpoint file, loaded into a small transformer and its Adam state.
int checkpoint(const uint8_t* data, size_t size);
// predict's input file, read with a small vocabulary; the first byte picks head and tokenizer.
int predict_input(const uint8_t* data, size_t size);
// A TensorBoard events file, as a resumed run reads it back to cut it at its checkpoint.
int tensorboard_events(const uint8_t* data, size_t size);

struct Target {
  const char* name;
  int (*run)(const uint8_t*, size_t);
};
const std::vector<Target>& targets();

// A checkpoint the checkpoint target loads without error (the seed its corpus starts from), and loading one
// into the target's model (CheckpointError for anything else).
void write_seed_checkpoint(const std::string& path);
void load_seed_checkpoint(const std::string& path);

}  // namespace seqenc::fuzz
