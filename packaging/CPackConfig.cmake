# CPack: `cpack -G DEB` in the build folder makes an installable .deb with the desktop entry, icon and
# AppStream metainfo; `cmake --install` installs the same files.
install(FILES ${CMAKE_SOURCE_DIR}/packaging/mixq-studio.desktop DESTINATION ${CMAKE_INSTALL_DATADIR}/applications)
install(FILES ${CMAKE_SOURCE_DIR}/packaging/mixq-studio.svg
        DESTINATION ${CMAKE_INSTALL_DATADIR}/icons/hicolor/scalable/apps)
install(FILES ${CMAKE_SOURCE_DIR}/packaging/io.mixq.Studio.metainfo.xml DESTINATION ${CMAKE_INSTALL_DATADIR}/metainfo)
install(DIRECTORY ${CMAKE_SOURCE_DIR}/resources/demo-model ${CMAKE_SOURCE_DIR}/resources/calibration
        DESTINATION ${CMAKE_INSTALL_DATADIR}/mixq-studio)

set(CPACK_PACKAGE_NAME "mixq-studio")
set(CPACK_PACKAGE_VENDOR "MixQ Studio developers")
set(CPACK_PACKAGE_CONTACT "MixQ Studio developers <dev@mixq.invalid>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Interactive mixed-precision quantization of LLMs for ONNX Runtime GenAI")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_DEBIAN_PACKAGE_SECTION "science")
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_GENERATOR "DEB")
include(CPack)
