# Finds LibTorch: Debian's libtorch-dev (1.13) by default, or the one inside a PyTorch wheel when CMAKE_PREFIX_PATH
# holds the wheel's torch.utils.cmake_prefix_path (<site-packages>/torch/share/cmake; scripts/setup --torch2).
set(SEQENC_TORCH_ROOT "")
foreach(_prefix IN LISTS CMAKE_PREFIX_PATH)
  if(EXISTS "${_prefix}/Torch/TorchConfig.cmake" AND EXISTS "${_prefix}/../../../nvidia")
    get_filename_component(SEQENC_TORCH_ROOT "${_prefix}/../.." ABSOLUTE)
    break()
  endif()
endforeach()
if(SEQENC_TORCH_ROOT)
  # TorchConfig looks for libc10 in the system's folders before its own: Debian's 1.13 copy would be linked.
  list(PREPEND CMAKE_LIBRARY_PATH "${SEQENC_TORCH_ROOT}/lib")
  # The wheel is built for CUDA. Its config runs the local toolkit's nvcc (configure only, no GPU needed), but the
  # CUDA runtime and NVRTC seqenc links must be the wheel's own (site-packages/nvidia), the ones libtorch_cuda.so
  # loads, not the toolkit's older minor version.
  get_filename_component(_nvidia "${SEQENC_TORCH_ROOT}/../nvidia" ABSOLUTE)
  file(GLOB _cudart "${_nvidia}/cu*/lib/libcudart.so.*")
  file(GLOB _nvrtc "${_nvidia}/cu*/lib/libnvrtc.so.*")
  list(FILTER _nvrtc EXCLUDE REGEX "builtins")
  if(NOT _cudart OR NOT _nvrtc)
    message(FATAL_ERROR "no libcudart/libnvrtc under ${_nvidia}: pip install the torch wheel "
                        "with its dependencies (scripts/setup --torch2)")
  endif()
  set(CUDA_cudart_LIBRARY "${_cudart}" CACHE FILEPATH "The torch wheel's CUDA runtime")
  set(CUDA_NVRTC_LIB "${_nvrtc}" CACHE FILEPATH "The torch wheel's NVRTC")
  # Debian's protobuf first: without a protobuf::libprotobuf target, Caffe2Config makes a "dummy" one in its place,
  # which seqenc's install(EXPORT) cannot carry (the TensorBoard sink links the real one).
  find_package(Protobuf REQUIRED)
  find_package(Torch REQUIRED)
  # The wheel's include/ holds its own fmt (12.x), oneDNN (3.x) and protobuf headers, and Torch's -isystem folder
  # comes before /usr/include: seqenc links Debian's libfmt, libspdlog, libdnnl and libprotobuf, so their headers
  # must come first.
  find_path(SEQENC_SYSTEM_FMT_INCLUDE fmt/format.h REQUIRED)
  find_path(SEQENC_SYSTEM_DNNL_INCLUDE oneapi/dnnl/dnnl.h REQUIRED)
  find_path(SEQENC_SYSTEM_PROTOBUF_INCLUDE google/protobuf/message.h REQUIRED)
  set(_first "${CMAKE_BINARY_DIR}/system-headers")
  file(MAKE_DIRECTORY "${_first}")
  file(CREATE_LINK "${SEQENC_SYSTEM_FMT_INCLUDE}/fmt" "${_first}/fmt" SYMBOLIC)
  file(CREATE_LINK "${SEQENC_SYSTEM_DNNL_INCLUDE}/oneapi" "${_first}/oneapi" SYMBOLIC)
  file(CREATE_LINK "${SEQENC_SYSTEM_PROTOBUF_INCLUDE}/google" "${_first}/google" SYMBOLIC)
  include_directories(BEFORE "${_first}")
else()
  find_package(Torch REQUIRED)
endif()
