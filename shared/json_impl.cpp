// Boost.JSON compiled into dynmgr_shared (header-only mode): no shared library to
// load at start-up, which keeps dynmgrctl's start-up lean (DESIGN.md §8).
#include <boost/json/src.hpp>
