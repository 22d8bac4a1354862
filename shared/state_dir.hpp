#pragma once
// The default state directory of an instance (README "Persistence"), shared by
// the supervisor (its database, its worker logs) and dynmgrctl (`logs` reads
// the worker logs under it).

#include <sys/types.h>

#include <string>
#include <string_view>

namespace dynmgr {

// $DYNMGR_STATE_ROOT/NAME when that is absolute, else default_state_dir_for()
// of the effective uid and the environment. Empty when there is none.
std::string default_state_dir(std::string_view instance);
// /var/lib/dynmgr/NAME for root, else $XDG_STATE_HOME/dynmgr/NAME (absolute
// only) or HOME/.local/state/dynmgr/NAME; empty without HOME.
std::string default_state_dir_for(uid_t euid, std::string_view instance, const char* xdg_state_home,
                                  const char* home);

}  // namespace dynmgr
