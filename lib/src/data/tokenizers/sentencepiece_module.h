// The C interface of libseqenc_sentencepiece.so, the module that holds SentencePiece for seqenc.
//
// Why a module in a link namespace of its own (dlmopen): Debian's libsentencepiece carries its own copy of
// protobuf-lite (3.14) and exports its symbols, while LibTorch loads libprotobuf 3.21. In one namespace either
// copy binds to the other's functions and the process dies at start (protobuf's own initialisers, or its version
// check). The module loads SentencePiece with its own libc and libstdc++, so nothing but plain C data crosses:
// memory a function hands out is released by seqenc_spm_free, and no exception leaves the module.
#pragma once
#include <cstddef>
#include <cstdint>

extern "C" {

// Bytes the module allocated (a model, a message); release with seqenc_spm_free.
struct SeqencSpmBuffer {
  char* data;
  size_t size;
};

// Learns a model with SentencePiece's trainer: num_args "key=value" options, then `count` texts. 0 with the model
// in *out, or non-zero with SentencePiece's message in *out.
int seqenc_spm_train(const char* const* args, size_t num_args, const char* const* texts, const size_t* sizes,
                     size_t count, uint32_t seed, SeqencSpmBuffer* out);
// A processor for a serialized model, or null with SentencePiece's message in *error.
void* seqenc_spm_load(const char* bytes, size_t size, SeqencSpmBuffer* error);
void seqenc_spm_close(void* processor);
// The number of ids, and one id's piece (valid while the processor lives) and kind.
enum SeqencSpmKind { kSpmNormal = 0, kSpmUnknown = 1, kSpmControl = 2, kSpmUnused = 3 };
int32_t seqenc_spm_size(const void* processor);
int seqenc_spm_piece(const void* processor, int32_t id, const char** piece, size_t* size);
// Encodes text into ids[0, capacity); returns how many ids it has (call again with more room if that is more
// than capacity), or -1 with the message in *error.
int64_t seqenc_spm_encode(const void* processor, const char* text, size_t size, int32_t* ids, int64_t capacity,
                          SeqencSpmBuffer* error);
void seqenc_spm_free(SeqencSpmBuffer* buffer);

// The signatures above, as the loader looks them up.
using SeqencSpmTrain = decltype(&seqenc_spm_train);
using SeqencSpmLoad = decltype(&seqenc_spm_load);
using SeqencSpmClose = decltype(&seqenc_spm_close);
using SeqencSpmSize = decltype(&seqenc_spm_size);
using SeqencSpmPiece = decltype(&seqenc_spm_piece);
using SeqencSpmEncode = decltype(&seqenc_spm_encode);
using SeqencSpmFree = decltype(&seqenc_spm_free);
}
