// One libFuzzer executable per target: SEQENC_FUZZ_TARGET names the function in fuzz_targets.h.
#include "fuzz_targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return seqenc::fuzz::SEQENC_FUZZ_TARGET(data, size);
}
