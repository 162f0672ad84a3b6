// The program's exit statuses, in one place.
#pragma once

namespace seqenc::app {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  // anything that is not the user's mistake, and a non-finite loss
inline constexpr int kExitUsage = 2;    // a configuration, data, checkpoint, command-line or write error
// A run stopped by a signal, as shells report it: 130 for Ctrl-C, 143 for SIGTERM.
inline constexpr int exit_code_for_signal(int signal) { return 128 + signal; }

}  // namespace seqenc::app
