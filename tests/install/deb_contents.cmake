# `make deb`'s package, built by cpack into a scratch directory: it holds what
# `make install` puts under /usr (nothing more of ours) and the control fields
# README "Install" states. Run by ctest (tests/install/CMakeLists.txt):
#   cmake -DCPACK=... -DBUILD_DIR=... -DSOURCE_DIR=... -DSCRATCH=... -DVERSION=...
#         -DSTATIC=ON|OFF -DBINDIR=... -DINCLUDEDIR=... -DLIBDIR=... -DCMAKEDIR=...
#         -P deb_contents.cmake
cmake_minimum_required(VERSION 3.25)

# check("<if() condition>" "what is wrong"): reports every failed check, not the first.
function(check condition message)
  cmake_language(EVAL CODE "if(NOT (${condition}))
    message(SEND_ERROR \"deb_contents: \${message}\")
  endif()")
endfunction()

file(REMOVE_RECURSE "${SCRATCH}")
execute_process(COMMAND "${CPACK}" -G DEB -B "${SCRATCH}" WORKING_DIRECTORY "${BUILD_DIR}"
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(NOT rc EQUAL 0)
  file(REMOVE_RECURSE "${SCRATCH}")
  message(FATAL_ERROR "deb_contents: cpack -G DEB failed (${rc}):\n${out}")
endif()
file(GLOB debs "${SCRATCH}/dynmgr_*.deb")
list(LENGTH debs n)
if(NOT n EQUAL 1)
  file(REMOVE_RECURSE "${SCRATCH}")
  message(FATAL_ERROR "deb_contents: expected one dynmgr_*.deb in ${SCRATCH}, found: ${debs}")
endif()

# Control fields.
foreach(field Package Version Depends Maintainer Section)
  execute_process(COMMAND dpkg-deb -f "${debs}" ${field} OUTPUT_VARIABLE value
    OUTPUT_STRIP_TRAILING_WHITESPACE COMMAND_ERROR_IS_FATAL ANY)
  set(field_${field} "${value}")
endforeach()
check("field_Package STREQUAL \"dynmgr\"" "Package is '${field_Package}', not dynmgr")
check("field_Version STREQUAL VERSION" "Version is '${field_Version}', not ${VERSION}")
check("NOT field_Maintainer STREQUAL \"\"" "no Maintainer")
check("field_Section STREQUAL \"admin\"" "Section is '${field_Section}', not admin")
if(STATIC)
  check("field_Depends STREQUAL \"\"" "Depends is '${field_Depends}' for static executables")
endif()
get_filename_component(deb_name "${debs}" NAME)
string(REGEX MATCH "^dynmgr_${VERSION}_[a-z0-9]+\\.deb$" named_well "${deb_name}")
check(named_well "file name ${deb_name} is not dynmgr_${VERSION}_<arch>.deb")

# Contents: every file of ours, and no file of ours that is not expected.
execute_process(COMMAND dpkg-deb -c "${debs}" OUTPUT_VARIABLE listing COMMAND_ERROR_IS_FATAL ANY)
string(REGEX MATCHALL "\\./usr/[^\n]*[^/\n]\n" entries "${listing}")
set(files "")
foreach(e IN LISTS entries)
  string(STRIP "${e}" e)
  string(REGEX REPLACE "^\\./usr/" "" e "${e}")
  list(APPEND files "${e}")
endforeach()

set(expected "${BINDIR}/dynmgrd" "${BINDIR}/dynmgrctl"
  "${CMAKEDIR}/dynmgrConfig.cmake" "${CMAKEDIR}/dynmgrConfigVersion.cmake"
  "${CMAKEDIR}/dynmgrTargets.cmake")
file(GLOB headers RELATIVE "${SOURCE_DIR}/include/dynmgr" "${SOURCE_DIR}/include/dynmgr/*")
foreach(h IN LISTS headers)
  list(APPEND expected "${INCLUDEDIR}/dynmgr/${h}")
endforeach()
foreach(lib app shared supervisor worker)
  list(APPEND expected "${LIBDIR}/libdynmgr_${lib}.a")
endforeach()
foreach(f IN LISTS expected)
  check("\"${f}\" IN_LIST files" "not in the package: usr/${f}")
endforeach()
foreach(f IN LISTS files)
  # Other parts' files (share/: man pages, completion; the systemd unit) are theirs.
  if(f MATCHES "^(${BINDIR}|${INCLUDEDIR}|${LIBDIR}/lib|${CMAKEDIR})/"
     AND NOT f MATCHES "^${CMAKEDIR}/dynmgrTargets-[a-z]+\\.cmake$")
    check("\"${f}\" IN_LIST expected" "in the package but not expected: usr/${f}")
  endif()
endforeach()
file(REMOVE_RECURSE "${SCRATCH}")
