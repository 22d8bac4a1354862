#pragma once
// Boost.Process v2 (1.81) built on std::filesystem. Two defects of 1.81 in that
// mode are patched here, before its headers are seen:
//  * detail/config.hpp says `using boost::optional;` but includes
//    <boost/optional.hpp> only when Boost.Filesystem is used;
//  * environment.hpp names `is_constructible`/`remove_pointer` unqualified, which only resolve
//    through Boost.Filesystem's headers.
// Both are fixed upstream in later releases; remove this shim with them.

#include <boost/optional.hpp>
#include <type_traits>

namespace boost::process::v2 {
using std::is_constructible;
using std::remove_pointer;
}  // namespace boost::process::v2

#include <boost/asio/io_context.hpp>
#include <boost/process/v2/environment.hpp>
#include <boost/process/v2/process.hpp>
#include <boost/process/v2/start_dir.hpp>
#include <boost/process/v2/stdio.hpp>
