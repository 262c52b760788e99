# cmake --install: the binary, hookdump(8), bash completion, the systemd units and example
# configurations (packaging/systemd/, packaging/examples/: whatever is there), and hookdump.ko's
# DKMS source tree (kmod/dkms-files, the list make -C kmod dkms-install copies too).
# Destinations are relative to the prefix (cmake --install build --prefix P; DESTDIR honoured):
# with --prefix /usr the module's source lands in /usr/src/hookdump-VERSION, where DKMS looks.
include(GNUInstallDirs)

option(HOOKDUMP_MAN "Build the man page hookdump(8) with scdoc" ON)
set(HOOKDUMP_SYSTEMD_UNITDIR "lib/systemd/system" CACHE STRING
    "Where the systemd units go (relative: under the prefix)")
set(HOOKDUMP_DKMS_SRCDIR "src" CACHE STRING
    "Where the module's source tree hookdump-VERSION goes (relative: under the prefix)")

install(TARGETS hookdump RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

if(HOOKDUMP_MAN)
  find_program(SCDOC scdoc REQUIRED)
  set(_man_src ${CMAKE_BINARY_DIR}/man/hookdump.8.scd)
  set(HOOKDUMP_MAN_PAGE ${CMAKE_BINARY_DIR}/man/hookdump.8)
  configure_file(docs/man/hookdump.8.scd ${_man_src} @ONLY)
  add_custom_command(OUTPUT ${HOOKDUMP_MAN_PAGE}
    COMMAND sh -c [["$0" < "$1" > "$2.tmp" && mv "$2.tmp" "$2"]]
            ${SCDOC} ${_man_src} ${HOOKDUMP_MAN_PAGE}
    DEPENDS ${_man_src}
    COMMENT "hookdump(8) from docs/man/hookdump.8.scd"
    VERBATIM)
  add_custom_target(man ALL DEPENDS ${HOOKDUMP_MAN_PAGE})
  install(FILES ${HOOKDUMP_MAN_PAGE} DESTINATION ${CMAKE_INSTALL_MANDIR}/man8)
endif()

install(FILES packaging/bash-completion/hookdump
        DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions)

file(GLOB _units CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/packaging/systemd/*.service
     ${PROJECT_SOURCE_DIR}/packaging/systemd/*.socket ${PROJECT_SOURCE_DIR}/packaging/systemd/*.timer)
if(_units)
  install(FILES ${_units} DESTINATION ${HOOKDUMP_SYSTEMD_UNITDIR})
endif()
file(GLOB _examples CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/packaging/examples/*.conf)
if(_examples)
  install(FILES ${_examples} DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)
endif()

# The DKMS tree: the listed files and dkms.conf with this version.
file(STRINGS kmod/dkms-files _dkms_files REGEX "^[^#]")
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS kmod/dkms-files kmod/dkms.conf)
list(TRANSFORM _dkms_files PREPEND ${PROJECT_SOURCE_DIR}/kmod/)
file(READ kmod/dkms.conf _dkms_conf)
string(REPLACE "#MODULE_VERSION#" "${PROJECT_VERSION}" _dkms_conf "${_dkms_conf}")
file(WRITE ${CMAKE_BINARY_DIR}/dkms/dkms.conf "${_dkms_conf}")
set(_dkms_dest ${HOOKDUMP_DKMS_SRCDIR}/hookdump-${PROJECT_VERSION})
install(FILES ${_dkms_files} ${CMAKE_BINARY_DIR}/dkms/dkms.conf DESTINATION ${_dkms_dest})
