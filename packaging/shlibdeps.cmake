# CPACK_PRE_BUILD_SCRIPTS: the package's Depends from dpkg-shlibdeps on the staged ELF files, without
# --ignore-missing-info, so a NEEDED library that no Debian package provides (libcudart, say) fails the build
# instead of vanishing from Depends.
file(GLOB_RECURSE _files LIST_DIRECTORIES false "${CPACK_TEMPORARY_DIRECTORY}/*")
set(_elf)
foreach(f IN LISTS _files)
  file(READ "${f}" _magic LIMIT 4 HEX)
  if(_magic STREQUAL "7f454c46")
    list(APPEND _elf "${f}")
  endif()
endforeach()
if(NOT _elf)
  message(FATAL_ERROR "shlibdeps: no ELF files staged in ${CPACK_TEMPORARY_DIRECTORY}")
endif()
file(MAKE_DIRECTORY "${CPACK_TEMPORARY_DIRECTORY}/debian" "${CPACK_TEMPORARY_DIRECTORY}/DEBIAN")
file(WRITE "${CPACK_TEMPORARY_DIRECTORY}/debian/control" "")
execute_process(COMMAND dpkg-shlibdeps -O ${_elf}
                WORKING_DIRECTORY "${CPACK_TEMPORARY_DIRECTORY}"
                OUTPUT_VARIABLE _out ERROR_VARIABLE _err RESULT_VARIABLE _rc OUTPUT_STRIP_TRAILING_WHITESPACE)
file(REMOVE_RECURSE "${CPACK_TEMPORARY_DIRECTORY}/debian" "${CPACK_TEMPORARY_DIRECTORY}/DEBIAN")
if(NOT _rc EQUAL 0)
  message(FATAL_ERROR "shlibdeps: dpkg-shlibdeps failed (a NEEDED library no package provides?):\n${_err}")
endif()
string(REGEX REPLACE "^.*Depends=" "" _depends "${_out}")
message(STATUS "shlibdeps: Depends: ${_depends}")
set(CPACK_DEBIAN_PACKAGE_DEPENDS "${_depends}")
