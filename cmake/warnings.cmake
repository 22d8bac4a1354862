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

# Start-up decides the speed of dynmgrctl and of every worker restart (DESIGN.md
# §8): no libstdc++/libgcc_s to load and relocate. Not with sanitizers, whose
# runtimes expect the shared C++ library.
if(NOT DYNMGR_SANITIZE)
  target_link_options(dynmgr_options INTERFACE -static-libstdc++ -static-libgcc)
endif()
