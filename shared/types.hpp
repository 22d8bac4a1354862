#pragma once
// The vocabulary lives in the public API (dynmgr/types.hpp).

#include "dynmgr/types.hpp"
