#pragma once
// The worker log files of a test supervisor (README "Worker logs"). Apart from
// test_support.hpp so that the tests that never look at worker output do not
// depend on it.

#include <string>

namespace dynmgr::testing {

// <state root>/<instance>/logs.
std::string worker_log_dir(const std::string& instance);
// What the instance's workers wrote (their log files), one line per record
// without its time and stream: for tests that look for a worker's own output,
// and for sanitizer reports of workers.
std::string worker_output(const std::string& instance);

}  // namespace dynmgr::testing
