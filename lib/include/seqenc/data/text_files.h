// Users' UTF-8 files: tsv_classify (text<TAB>label), tsv_tag (tokens<TAB>tags)
// and text_lm (plain text for next-token prediction).
#pragma once
#include <string>
#include <vector>

#include "seqenc/data/dataset.h"
#include "seqenc/data/line_reader.h"  // is_valid_utf8

namespace seqenc {

std::vector<std::string> file_format_names();
// The head a file format trains: classify, tag or lm.
HeadKind head_for_format(const std::string& format);

// Reads options.train (and valid/test, or splits train by ratio and seed),
// building the vocabulary and labels from the training split only.
TaskData load_file_task(const DataOptions& options);

// Reads one file with a fixed vocabulary and label set (evaluation and
// prediction). require_labels false accepts lines without labels (their
// labels are then kIgnoreLabel). A label unseen in training is an error.
// split >= 0 keeps only that split (0 train, 1 valid, 2 test) of a file split by ratio.
Dataset read_file(const std::string& path, const DataOptions& options, const Vocabulary& vocab,
                  const std::vector<std::string>& label_names, bool require_labels = true, int split = -1);

// Splits a line into tokens the way options.tokenizer says.
std::vector<std::string> tokenize(const std::string& text, Tokenizer tokenizer);

}  // namespace seqenc
