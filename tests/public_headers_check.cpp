// Compiled with include/ and Boost on the include path, nothing else: every
// public header stands alone and reaches nothing in shared/.
#include "dynmgr/child_spec.hpp"
#include "dynmgr/client.hpp"
#include "dynmgr/cluster_client.hpp"
#include "dynmgr/error.hpp"
#include "dynmgr/json.hpp"
#include "dynmgr/manager.hpp"
#include "dynmgr/run.hpp"
#include "dynmgr/types.hpp"
#include "dynmgr/worker_info.hpp"
