#pragma once
// `--web-token-file FILE`: the secret that enables the web dashboard's actions
// (restart, del). The file's first line is the token; the file must be a
// regular file, readable by its owner only (no group or other permission bits),
// and its first line must not be empty. Without it the dashboard is read-only.

#include <string>
#include <string_view>

#include "shared/error.hpp"

namespace dynmgr {

// The token, or kInvalid with a one-line reason naming the file:
// "invalid --web-token-file 'F': <why>".
Result<std::string> read_web_token_file(const std::string& path);

// a == b in time that depends on their lengths only, not on where they differ.
bool token_equals(std::string_view a, std::string_view b) noexcept;

}  // namespace dynmgr
