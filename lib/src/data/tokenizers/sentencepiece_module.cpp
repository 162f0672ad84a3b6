// libseqenc_sentencepiece.so: SentencePiece behind a C interface, loaded by sentencepiece.cpp into a link
// namespace of its own (sentencepiece_module.h says why). Built without sanitizers: it runs beside their runtime.
#include "sentencepiece_module.h"

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

void hand_out(const std::string& bytes, SeqencSpmBuffer* out) {
  out->data = static_cast<char*>(std::malloc(bytes.empty() ? 1 : bytes.size()));
  out->size = out->data ? bytes.size() : 0;
  if (out->data) std::memcpy(out->data, bytes.data(), bytes.size());
}

class Texts : public sentencepiece::SentenceIterator {
 public:
  Texts(const char* const* texts, const size_t* sizes, size_t count) : texts_(texts), sizes_(sizes), count_(count) {
    if (count_ > 0) value_.assign(texts_[0], sizes_[0]);
  }
  bool done() const override { return next_ >= count_; }
  void Next() override {
    if (++next_ < count_) value_.assign(texts_[next_], sizes_[next_]);
  }
  const std::string& value() const override { return value_; }
  sentencepiece::util::Status status() const override { return {}; }

 private:
  const char* const* texts_;
  const size_t* sizes_;
  size_t count_, next_ = 0;
  std::string value_;
};

const sentencepiece::SentencePieceProcessor& processor_of(const void* p) {
  return *static_cast<const sentencepiece::SentencePieceProcessor*>(p);
}

}  // namespace

extern "C" {

int seqenc_spm_train(const char* const* args, size_t num_args, const char* const* texts, const size_t* sizes,
                     size_t count, uint32_t seed, SeqencSpmBuffer* out) {
  try {
    std::unordered_map<std::string, std::string> options;
    for (size_t i = 0; i < num_args; ++i) {
      const std::string arg = args[i];
      const auto eq = arg.find('=');
      options[arg.substr(0, eq)] = eq == std::string::npos ? "" : arg.substr(eq + 1);
    }
    sentencepiece::SetRandomGeneratorSeed(seed);
    Texts sentences(texts, sizes, count);
    std::string model;
    const auto status = sentencepiece::SentencePieceTrainer::Train(options, &sentences, &model);
    hand_out(status.ok() ? model : std::string(status.error_message()), out);
    return status.ok() ? 0 : 1;
  } catch (const std::exception& e) {
    hand_out(e.what(), out);
    return 1;
  }
}

void* seqenc_spm_load(const char* bytes, size_t size, SeqencSpmBuffer* error) {
  try {
    auto processor = std::make_unique<sentencepiece::SentencePieceProcessor>();
    const auto status = processor->LoadFromSerializedProto(std::string(bytes, size));
    if (status.ok()) return processor.release();
    hand_out(status.error_message(), error);
  } catch (const std::exception& e) {
    hand_out(e.what(), error);
  }
  return nullptr;
}

void seqenc_spm_close(void* processor) { delete static_cast<sentencepiece::SentencePieceProcessor*>(processor); }

int32_t seqenc_spm_size(const void* processor) { return processor_of(processor).GetPieceSize(); }

int seqenc_spm_piece(const void* processor, int32_t id, const char** piece, size_t* size) {
  const auto& p = processor_of(processor);
  const auto& text = p.IdToPiece(id);
  *piece = text.data();
  *size = text.size();
  if (p.IsUnknown(id)) return kSpmUnknown;
  if (p.IsControl(id)) return kSpmControl;
  return p.IsUnused(id) ? kSpmUnused : kSpmNormal;
}

int64_t seqenc_spm_encode(const void* processor, const char* text, size_t size, int32_t* ids, int64_t capacity,
                          SeqencSpmBuffer* error) {
  try {
    std::vector<int> encoded;
    const auto status = processor_of(processor).Encode(std::string(text, size), &encoded);
    if (!status.ok()) {
      hand_out(status.error_message(), error);
      return -1;
    }
    for (size_t i = 0; i < encoded.size() && static_cast<int64_t>(i) < capacity; ++i) ids[i] = encoded[i];
    return static_cast<int64_t>(encoded.size());
  } catch (const std::exception& e) {
    hand_out(e.what(), error);
    return -1;
  }
}

void seqenc_spm_free(SeqencSpmBuffer* buffer) {
  std::free(buffer->data);
  buffer->data = nullptr;
  buffer->size = 0;
}

}  // extern "C"
