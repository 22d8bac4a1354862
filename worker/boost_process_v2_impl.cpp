// Boost.Process v2's compiled part, built once here (separate compilation).
#include "worker/boost_process_v2.hpp"

#include <boost/process/v2/src.hpp>
