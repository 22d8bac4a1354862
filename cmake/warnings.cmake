# Warnings and sanitizers as interface targets: every dynmgr target links them.
add_library(dynmgr_options INTERFACE)
target_compile_options(dynmgr_options INTERFACE -Wall -Wextra -Wpedantic -Wshadow
  -Wnon-virtual-dtor -Wold-style-cast -Wcast-align -Woverloaded-virtual
  $<$<BOOL:${DYNMGR_WERROR}>:-Werror>)
if(DYNMGR_SANITIZE)
  # float-cast-overflow is not in gcc's "undefined" group: a double converted to
  # an integer it does not fit is undefined too (json.cpp's get_int did it).
  target_compile_options(dynmgr_options INTERFACE -fsanitize=address,undefined,float-cast-overflow
    -fno-omit-frame-pointer -fno-sanitize-recover=undefined,float-cast-overflow)
  target_link_options(dynmgr_options INTERFACE -fsanitize=address,undefined,float-cast-overflow)
  # Executables not position-independent: a sanitized PIE spent half of each
  # start relocating itself (ld.so's _dl_relocate_object over the instrumented
  # globals, copy-on-write faults on every page it fixed up). Measured: a
  # `dynmgrctl ping` 481 -> 239 ms, its link 8.6 -> 5.8 s; the sanitized test
  # suite starts thousands of processes.
  target_link_options(dynmgr_options INTERFACE
    $<$<STREQUAL:$<TARGET_PROPERTY:TYPE>,EXECUTABLE>:-no-pie>)
endif()

# Start-up decides the speed of dynmgrctl and of every worker restart (DESIGN.md
# §8): no libstdc++/libgcc_s to load and relocate. Not with sanitizers, whose
# runtimes expect the shared C++ library.
if(NOT DYNMGR_SANITIZE)
  target_link_options(dynmgr_options INTERFACE -static-libstdc++ -static-libgcc)
endif()

# The shipped executables (dynmgrctl, dynmgrd, the examples, the test manager)
# go further: fully static, so exec maps one file and runs no dynamic loader.
# Measured (BENCHMARKS.md): a worker restart 0.97 -> 0.77 ms, `dynmgrctl call`
# 2.0 -> 1.4 ms. The price: a static binary's first thrown exception sorts the
# unwind tables (~2 ms, once per process; only error paths throw). Off with
# -DDYNMGR_STATIC=OFF; never with sanitizers.
option(DYNMGR_STATIC "Link dynmgr's executables statically" ON)
add_library(dynmgr_static_exe INTERFACE)
if(DYNMGR_STATIC AND NOT DYNMGR_SANITIZE)
  target_link_options(dynmgr_static_exe INTERFACE -static)
endif()

# Start-up code on few pages (README "Start-up cost"): every function compiled
# into its own section, and the functions a one-shot dynmgrctl and a starting
# worker run (cmake/startup-order.ld, made by scripts/link-order.sh) linked
# together at the front of .text, so a one-shot dynmgrctl touches about 120
# pages of code instead of 280. Measured (BENCHMARKS.md, sixth session):
# `dynmgrctl call` 1.85-1.95x -> 1.41-1.47x /bin/true. Each static executable
# also writes its link map to BUILD/maps/NAME.map, which the script reads.
option(DYNMGR_LINK_ORDER "Link the start-up functions of the executables together" ON)
if(DYNMGR_LINK_ORDER AND DYNMGR_STATIC AND NOT DYNMGR_SANITIZE)
  target_compile_options(dynmgr_options INTERFACE -ffunction-sections)
  file(MAKE_DIRECTORY ${CMAKE_BINARY_DIR}/maps)
  target_link_options(dynmgr_static_exe INTERFACE
    "LINKER:-T,${PROJECT_SOURCE_DIR}/cmake/startup-order.ld"
    "LINKER:-Map=${CMAKE_BINARY_DIR}/maps/$<TARGET_PROPERTY:NAME>.map")
endif()

# A shipped executable: static, and relinked when the start-up order changes.
function(dynmgr_static_executable target)
  target_link_libraries(${target} PRIVATE dynmgr_static_exe)
  if(DYNMGR_LINK_ORDER AND DYNMGR_STATIC AND NOT DYNMGR_SANITIZE)
    set_property(TARGET ${target} APPEND PROPERTY LINK_DEPENDS
      ${PROJECT_SOURCE_DIR}/cmake/startup-order.ld)
  endif()
endfunction()
