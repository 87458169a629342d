# CPack: `cpack -G DEB` in the build folder makes an installable .deb (stripped binaries, man pages, desktop entry,
# icon, AppStream metainfo, the demo model, the evaluation data (MMLU / PIQA with their licences), copyright and changelog); `cmake --install` installs the same files.
# Depends come from dpkg-shlibdeps run without --ignore-missing-info (packaging/shlibdeps.cmake).
set(MIXQ_DOC_DIR ${CMAKE_INSTALL_DATADIR}/doc/mixq-studio)
install(FILES ${CMAKE_SOURCE_DIR}/packaging/mixq-studio.desktop DESTINATION ${CMAKE_INSTALL_DATADIR}/applications)
install(FILES ${CMAKE_SOURCE_DIR}/packaging/mixq-studio.svg
        DESTINATION ${CMAKE_INSTALL_DATADIR}/icons/hicolor/scalable/apps)
install(FILES ${CMAKE_SOURCE_DIR}/packaging/io.mixq.Studio.metainfo.xml DESTINATION ${CMAKE_INSTALL_DATADIR}/metainfo)
install(DIRECTORY ${CMAKE_SOURCE_DIR}/resources/demo-model ${CMAKE_SOURCE_DIR}/resources/calibration
                  ${CMAKE_SOURCE_DIR}/resources/eval-data
        DESTINATION ${CMAKE_INSTALL_DATADIR}/mixq-studio)

# copyright and changelog.Debian.gz (gzip -9n: maximal compression, no timestamp, as Debian policy asks).
install(FILES ${CMAKE_SOURCE_DIR}/packaging/copyright DESTINATION ${MIXQ_DOC_DIR})
set(_changelog_gz ${CMAKE_BINARY_DIR}/packaging/changelog.Debian.gz)
add_custom_command(OUTPUT ${_changelog_gz}
                   COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/packaging
                   COMMAND gzip -9n -c ${CMAKE_SOURCE_DIR}/packaging/changelog.Debian > ${_changelog_gz}
                   DEPENDS ${CMAKE_SOURCE_DIR}/packaging/changelog.Debian VERBATIM)
set(_package_files ${_changelog_gz})
install(FILES ${_changelog_gz} DESTINATION ${MIXQ_DOC_DIR})

# Man pages generated from the programs' own --help/--version (help2man) plus packaging/<program>.h2m.
find_program(MIXQ_HELP2MAN help2man)
set(_programs mixq)
if(MIXQ_BUILD_GUI)
  list(APPEND _programs mixq-studio)
endif()
if(MIXQ_HELP2MAN)
  set(_man_names mixq "mixed-precision quantization of LLMs for ONNX Runtime GenAI (command line)"
                 mixq-studio "mixed-precision quantization of LLMs for ONNX Runtime GenAI (desktop app)")
  foreach(prog IN LISTS _programs)
    list(FIND _man_names ${prog} _i)
    math(EXPR _i "${_i} + 1")
    list(GET _man_names ${_i} _name)
    set(_man ${CMAKE_BINARY_DIR}/packaging/${prog}.1.gz)
    add_custom_command(OUTPUT ${_man}
                       COMMAND ${CMAKE_COMMAND} -E env QT_QPA_PLATFORM=offscreen
                               ${MIXQ_HELP2MAN} --no-info --section=1 --name=${_name}
                               --include=${CMAKE_SOURCE_DIR}/packaging/${prog}.h2m
                               --output=${CMAKE_BINARY_DIR}/packaging/${prog}.1 $<TARGET_FILE:${prog}>
                       # one usage line per command: a line break after each "mixq COMMAND ..." line
                       COMMAND sed -i -e "/^mixq [a-z]/a .br" ${CMAKE_BINARY_DIR}/packaging/${prog}.1
                       COMMAND gzip -9nf ${CMAKE_BINARY_DIR}/packaging/${prog}.1
                       DEPENDS ${prog} ${CMAKE_SOURCE_DIR}/packaging/${prog}.h2m VERBATIM)
    list(APPEND _package_files ${_man})
    install(FILES ${_man} DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
  endforeach()
else()
  message(STATUS "MixQ: help2man not found; no man pages (scripts/install-deps.sh installs it)")
endif()
add_custom_target(mixq_package_files ALL DEPENDS ${_package_files})

set(CPACK_PACKAGE_NAME "mixq-studio")
set(CPACK_PACKAGE_VENDOR "MixQ Studio developers")
set(CPACK_PACKAGE_CONTACT "MixQ Studio developers <dev@mixq.invalid>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "mixed-precision quantization of LLMs for ONNX Runtime GenAI")
set(CPACK_PACKAGE_DESCRIPTION "MixQ Studio scores the quantization sensitivity of every linear layer of a
Hugging Face model (KL divergence of the output distribution against the
unquantized model), plans a per-layer int4/int8/16-bit assignment for a target
average bit budget, exports an ONNX model in ONNX Runtime GenAI's format and
evaluates it (MMLU, PIQA, perplexity, speed) beside the unquantized baseline.

This package holds the Qt 6 desktop app (mixq-studio), its command-line twin
(mixq) and a small built-in demo model. Everything runs on the CPU; on a
machine with an NVIDIA driver and cuBLAS (libcublas.so.13) installed, scoring
and evaluation use the GPU.")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_SECTION "science")
set(CPACK_DEBIAN_PACKAGE_PRIORITY "optional")
set(CPACK_STRIP_FILES ON)
# CPack's own shlibdeps passes --ignore-missing-info, which silently drops a library no package provides;
# packaging/shlibdeps.cmake runs dpkg-shlibdeps on the staged binaries without it and fails on any such library.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS OFF)
set(CPACK_PRE_BUILD_SCRIPTS ${CMAKE_SOURCE_DIR}/packaging/shlibdeps.cmake)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_GENERATOR "DEB")
include(CPack)
