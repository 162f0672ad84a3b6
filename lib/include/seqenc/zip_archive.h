// LibTorch's archives (torch::save, TorchScript exports) are zip files whose reader skips the entries' CRC-32s
// and parses what it finds, so a damaged file can crash it. seqenc checks an archive's structure and every
// entry's checksum first, and hands LibTorch only an archive that is exactly as written.
#pragma once
#include <optional>
#include <string>
#include <string_view>

namespace seqenc {

// "" for a well-formed zip archive whose entries (stored, or deflated as LibTorch's code files are) match their
// CRC-32s; otherwise
// what is wrong, in a few words ("entry 'archive/data/3' fails its checksum").
std::string zip_archive_problem(std::string_view bytes);

// The contents of the entry called `name`, stored or deflated; nullopt if there is none. For an archive that
// zip_archive_problem accepted.
std::optional<std::string> zip_entry(std::string_view bytes, std::string_view name);

// A LibTorch archive in a file format newer than this LibTorch reads (its "<folder>/version" entry), in a few words
// naming the format, the LibTorch that wrote it where an export's seqenc.json says, and what reads it; "" otherwise.
// LibTorch's own refusal is a multi-line message about its reader.
std::string torch_format_problem(std::string_view bytes);

}  // namespace seqenc
