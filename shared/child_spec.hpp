#pragma once
// ChildSpec lives in the public API (dynmgr/child_spec.hpp).

#include "dynmgr/child_spec.hpp"
