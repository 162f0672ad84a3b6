// A format of users' files: how one line reads into tokens and labels. The built-in formats are a file each
// under lib/src/data/formats/ and one line in lib/src/data/task_registry.cpp; text_files.h reads any of them.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "seqenc/data/line_reader.h"
#include "seqenc/data/task.h"
#include "seqenc/data/tokenizer.h"

namespace seqenc {

// One line of a file, read.
struct Record {
  std::vector<std::string> tokens;
  std::vector<std::string> labels;  // one (classify), one per token (tag), none (lm, or a line without labels)
                                    // tag with subwords: "" on a word's later pieces, which are not scored
};

struct FileFormat {
  // classify: a label per line; tag: one per token; lm: none, the examples are windows over all lines' tokens
  // and each label is the next token.
  HeadKind head = HeadKind::classify;
  std::string label_word = "label";  // what messages call a label ("tag 'X' was not seen in training")
  // Reads one non-blank line into out; reader.fail(...) on a malformed one. Without require_labels a line may
  // carry no labels. False: the line holds no example (it is skipped).
  std::function<bool(const std::string& line, const Tokenizer& tokenizer, bool require_labels, const LineReader& reader,
                     Record& out)>
      parse;
  // The part of a line a tokenizer reads (what one with a model learns from); null: the whole line.
  std::function<std::string(const std::string& line)> text;
};

// The registry entry of a file format: data.train (with data.valid and data.test, or split by ratio) read with
// it, the vocabulary and labels built from the training split only.
TaskSpec file_task(FileFormat format);

// For formats of the form text<TAB>labels: the text and what follows the tab ("" and false when there is no tab,
// which is a reader.fail when labels are required: `expected` says what a line should be).
struct TabSplit {
  std::string text, labels;
  bool has_labels = false;
};
TabSplit split_at_tab(const std::string& line, bool require_labels, const LineReader& reader,
                      const std::string& expected);
// The text of a text<TAB>labels line: what precedes the first tab (FileFormat::text of such formats).
std::string text_before_tab(const std::string& line);

// The built-in formats (lib/src/data/formats/).
TaskSpec tsv_classify_task();  // text<TAB>label
TaskSpec tsv_tag_task();       // tokens<TAB>tags, one tag per token
TaskSpec text_lm_task();       // plain text, next-token prediction

}  // namespace seqenc
