// Users' UTF-8 files in any registered file format (data/file_format.h).
#pragma once
#include <string>
#include <vector>

#include "seqenc/data/dataset.h"
#include "seqenc/data/file_format.h"

namespace seqenc {

// Reads options.train (and valid/test, or splits train by ratio and seed) in `format`, building the tokenizer
// (one with a model learns it here unless options name one), vocabulary and labels from the training split only.
TaskData load_file_task(const DataOptions& options, const FileFormat& format);

// Reads one file of options.task's format with a fixed tokenizer, vocabulary and label set (evaluation).
// require_labels false accepts lines without labels (their labels are then kIgnoreLabel). A label unseen in
// training is an error. split >= 0 keeps only that split (0 train, 1 valid, 2 test) of a file split by ratio.
Dataset read_file(const std::string& path, const DataOptions& options, const Tokenizer& tokenizer,
                  const Vocabulary& vocab, const std::vector<std::string>& label_names, bool require_labels = true,
                  int split = -1);

}  // namespace seqenc
