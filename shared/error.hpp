#pragma once
// The error values live in the public API (dynmgr/error.hpp).

#include "dynmgr/error.hpp"
