// LibTorch's archives (torch::save, TorchScript exports) are zip files whose reader skips the entries' CRC-32s
// and parses what it finds, so a damaged file can crash it. seqenc checks an archive's structure and every
// entry's checksum first, and hands LibTorch only an archive that is exactly as written.
#pragma once
#include <string>
#include <string_view>

namespace seqenc {

// "" for a well-formed zip archive whose entries (stored, or deflated as LibTorch's code files are) match their
// CRC-32s; otherwise
// what is wrong, in a few words ("entry 'archive/data/3' fails its checksum").
std::string zip_archive_problem(std::string_view bytes);

}  // namespace seqenc
