# `cmake --install` (make install) and `cpack -G DEB` (make deb).
#
# Installed: dynmgrd and dynmgrctl (bin), the public headers include/dynmgr/*.hpp,
# the static libraries behind dynmgr::app, and a CMake package so that
#   find_package(dynmgr) + target_link_libraries(app PRIVATE dynmgr::app)
# builds a manager out of tree (tests/install/ does exactly that). Examples,
# benchmarks and test programs are never installed. Paths are GNUInstallDirs'
# (included at the top, before the targets, for their INSTALL_INTERFACE).

include(CMakePackageConfigHelpers)

set(DYNMGR_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/dynmgr" CACHE STRING
  "Where dynmgrConfig.cmake is installed, relative to the prefix")

install(TARGETS dynmgrd dynmgrctl RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

# The exported link interface: dynmgr::app -> dynmgr::shared (public), and the
# supervisor and worker archives (link only); each carries what it links. The
# internal interface targets (dynmgr_options: warnings, sanitizers,
# -static-libstdc++; dynmgr_static_exe) are $<BUILD_INTERFACE:...> where the
# libraries link them, so they stay out of it: an application chooses its own.
set_target_properties(dynmgr_app PROPERTIES EXPORT_NAME app)
set_target_properties(dynmgr_shared PROPERTIES EXPORT_NAME shared)
set_target_properties(dynmgr_supervisor PROPERTIES EXPORT_NAME supervisor)
set_target_properties(dynmgr_worker PROPERTIES EXPORT_NAME worker)
set_target_properties(dynmgr_collector PROPERTIES EXPORT_NAME collector)
set_target_properties(dynmgr_cluster PROPERTIES EXPORT_NAME cluster)
install(TARGETS dynmgr_app dynmgr_shared dynmgr_supervisor dynmgr_worker dynmgr_collector
  dynmgr_cluster EXPORT dynmgrTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
# `cmake --install --strip` (and the Debian package) strips the executables;
# CMake leaves archives alone, so their debug sections (most of their size) go
# here, as dh_strip does for a -dev package.
install(CODE "
  if(CMAKE_INSTALL_DO_STRIP)
    foreach(lib app shared supervisor worker cluster)
      execute_process(COMMAND \"${CMAKE_STRIP}\" --strip-debug
        \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_LIBDIR}/libdynmgr_\${lib}.a\"
        COMMAND_ERROR_IS_FATAL ANY)
    endforeach()
  endif()")

# Only include/dynmgr/ is API; shared/ and the other private headers stay behind
# (tests/public_headers_check.cpp compiles the public ones with include/ and
# Boost alone).
install(DIRECTORY include/dynmgr DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
  FILES_MATCHING PATTERN "*.hpp")

install(EXPORT dynmgrTargets NAMESPACE dynmgr:: DESTINATION ${DYNMGR_INSTALL_CMAKEDIR})

# The archives hold compiled Boost.JSON and Boost.Process code, and CLI::App
# code compiled from CLI11's headers (RunOptions::add_flags hands the
# application a CLI::App&): an application must compile against the same
# Boost release and the same CLI11, hence EXACT versions in dynmgrConfig.cmake.
set(DYNMGR_BOOST_VERSION "${Boost_VERSION_MAJOR}.${Boost_VERSION_MINOR}")
set(DYNMGR_CLI11_VERSION "${CLI11_VERSION}")
configure_package_config_file(cmake/dynmgrConfig.cmake.in
  "${PROJECT_BINARY_DIR}/dynmgrConfig.cmake"
  INSTALL_DESTINATION ${DYNMGR_INSTALL_CMAKEDIR})
# 0.x: a new minor release may change the API.
write_basic_package_version_file("${PROJECT_BINARY_DIR}/dynmgrConfigVersion.cmake"
  COMPATIBILITY SameMinorVersion)
install(FILES "${PROJECT_BINARY_DIR}/dynmgrConfig.cmake"
  "${PROJECT_BINARY_DIR}/dynmgrConfigVersion.cmake"
  DESTINATION ${DYNMGR_INSTALL_CMAKEDIR})

# ---- Debian package (make deb: cpack -G DEB in the build directory).
# One package, everything above under /usr. The executables are linked fully
# static (DYNMGR_STATIC, the default), so they depend on no package; with
# -DDYNMGR_STATIC=OFF dpkg-shlibdeps computes Depends from them. Building a
# manager against the package needs the headers it was built with: Recommends.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME dynmgr)
set(CPACK_PACKAGE_VENDOR dynmgr)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
  "multi-process supervisor: one crash-isolated worker process per id")
set(CPACK_PACKAGE_DESCRIPTION
  "dynmgr runs many small, long-lived jobs addressed by an id, each in its own
process, with a shared-memory registry and the dynmgrctl command line. This
package holds dynmgrd, dynmgrctl, and the headers, static libraries and CMake
package (find_package(dynmgr)) to build managers in C++.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)  # executables; the archives lose their debug sections
set(DYNMGR_DEB_MAINTAINER "dynmgr maintainers <dynmgr@localhost>" CACHE STRING
  "Maintainer field of the Debian package (make deb)")
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${DYNMGR_DEB_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
if(DYNMGR_STATIC AND NOT DYNMGR_SANITIZE)
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS OFF)
else()
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
endif()
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS
  "cmake (>= 3.25), g++, libboost${DYNMGR_BOOST_VERSION}-dev, libcli11-dev, libsqlite3-dev")
include(CPack)
