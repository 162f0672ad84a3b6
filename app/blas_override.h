// The program's answer to LibTorch's own sgemm_ calls (blas_override.cpp): oneDNN, or LibTorch's BLAS as linked.
#pragma once

namespace seqenc::app {

// On (the default): oneDNN answers; off: the calls go on to the BLAS LibTorch was linked with (train.blas).
void answer_blas_with_onednn(bool on);

}  // namespace seqenc::app
