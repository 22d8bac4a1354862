# Warnings and sanitizers as interface targets: every dynmgr target links them.
add_library(dynmgr_options INTERFACE)
target_compile_options(dynmgr_options INTERFACE -Wall -Wextra -Wpedantic -Wshadow
  -Wnon-virtual-dtor -Wold-style-cast -Wcast-align -Woverloaded-virtual
  $<$<BOOL:${DYNMGR_WERROR}>:-Werror>)
if(DYNMGR_SANITIZE)
  target_compile_options(dynmgr_options INTERFACE -fsanitize=address,undefined
    -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  target_link_options(dynmgr_options INTERFACE -fsanitize=address,undefined)
endif()
