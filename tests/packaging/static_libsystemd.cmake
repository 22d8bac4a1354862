# ctest -R LibsystemdCannotBeLinkedStatically (see CMakeLists.txt).
if(NOT EXISTS /usr/include/systemd/sd-daemon.h)
  message(FATAL_ERROR "libsystemd-dev is not installed (scripts/install-deps.sh installs it)")
endif()
set(dir ${CMAKE_CURRENT_BINARY_DIR}/static_libsystemd_probe)
file(MAKE_DIRECTORY ${dir})
file(WRITE ${dir}/notify.cpp
  "#include <systemd/sd-daemon.h>\nint main() { return sd_notify(0, \"READY=1\"); }\n")
# The shared library links: the package is there and usable.
execute_process(COMMAND ${CXX} ${dir}/notify.cpp -o ${dir}/notify_shared -lsystemd
                RESULT_VARIABLE shared_rc ERROR_VARIABLE shared_err)
if(NOT shared_rc EQUAL 0)
  message(FATAL_ERROR "linking libsystemd.so failed, so this proves nothing: ${shared_err}")
endif()
# A static link, as dynmgr's executables are, does not.
execute_process(COMMAND ${CXX} -static ${dir}/notify.cpp -o ${dir}/notify_static -lsystemd
                RESULT_VARIABLE static_rc ERROR_VARIABLE static_err)
file(REMOVE_RECURSE ${dir})
if(static_rc EQUAL 0)
  message(FATAL_ERROR "libsystemd links statically now: shared/service_notify.cpp could give "
                      "way to sd_notify(3) (README \"systemd\")")
endif()
if(NOT static_err MATCHES "cannot find -lsystemd")
  message(FATAL_ERROR "the static link failed for another reason: ${static_err}")
endif()
message(STATUS "libsystemd: shared links, static refused (${static_err})")
