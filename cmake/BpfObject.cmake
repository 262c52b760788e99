# eBPF programs: bpf/<name>.bpf.c -> <name>.bpf.o (clang -target bpf) -> <name>.skel.h
# (bpftool gen skeleton), like libbpf-bootstrap's FindBpfObject. Packet programs include only
# UAPI headers; tracing programs include the generated vmlinux.h (CO-RE), which exists only
# where the build machine exposes its BTF (HOOKDUMP_HAVE_VMLINUX_H).
#
#   hookdump_bpf_object(<name> <source> [CORE])
# defines the interface target hookdump_bpf_<name> that carries the skeleton's include path.

set(HOOKDUMP_BPF_GEN ${CMAKE_BINARY_DIR}/generated/bpf)
file(MAKE_DIRECTORY ${HOOKDUMP_BPF_GEN})

find_program(HOOKDUMP_BPFTOOL bpftool PATHS /usr/sbin /sbin)
find_program(HOOKDUMP_BPF_CLANG clang)
find_program(HOOKDUMP_LLVM_STRIP NAMES llvm-strip llvm-strip-14 PATHS /usr/lib/llvm-14/bin)
pkg_check_modules(LIBBPF IMPORTED_TARGET libbpf)

set(HOOKDUMP_HAVE_BPF OFF)
if(HOOKDUMP_BPF)
  if(HOOKDUMP_BPFTOOL AND HOOKDUMP_BPF_CLANG AND HOOKDUMP_LLVM_STRIP AND LIBBPF_FOUND)
    set(HOOKDUMP_HAVE_BPF ON)
  else()
    message(WARNING "eBPF engines not built: need clang, bpftool and libbpf-dev")
  endif()
endif()

set(HOOKDUMP_BTF_SOURCE /sys/kernel/btf/vmlinux CACHE FILEPATH "BTF that vmlinux.h is generated from")
set(HOOKDUMP_HAVE_VMLINUX_H OFF)
if(HOOKDUMP_HAVE_BPF AND EXISTS ${HOOKDUMP_BTF_SOURCE})
  set(HOOKDUMP_HAVE_VMLINUX_H ON)
  add_custom_command(OUTPUT ${HOOKDUMP_BPF_GEN}/vmlinux.h
    COMMAND ${HOOKDUMP_BPFTOOL} btf dump file ${HOOKDUMP_BTF_SOURCE} format c > ${HOOKDUMP_BPF_GEN}/vmlinux.h.tmp
    COMMAND ${CMAKE_COMMAND} -E rename ${HOOKDUMP_BPF_GEN}/vmlinux.h.tmp ${HOOKDUMP_BPF_GEN}/vmlinux.h
    COMMENT "vmlinux.h from ${HOOKDUMP_BTF_SOURCE}")
endif()

if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|amd64")
  set(HOOKDUMP_BPF_ARCH x86)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "aarch64|arm64")
  set(HOOKDUMP_BPF_ARCH arm64)
else()
  set(HOOKDUMP_BPF_ARCH ${CMAKE_SYSTEM_PROCESSOR})
endif()

function(hookdump_bpf_object name source)
  cmake_parse_arguments(ARG "CORE" "" "" ${ARGN})
  set(obj ${HOOKDUMP_BPF_GEN}/${name}.bpf.o)
  set(skel ${HOOKDUMP_BPF_GEN}/${name}.skel.h)
  set(deps ${source} ${PROJECT_SOURCE_DIR}/include/uapi/hookdump.h)
  file(GLOB bpf_headers ${PROJECT_SOURCE_DIR}/bpf/*.h)
  list(APPEND deps ${bpf_headers})
  set(core_flags "")
  if(ARG_CORE)
    list(APPEND deps ${HOOKDUMP_BPF_GEN}/vmlinux.h)
    set(core_flags -DHOOKDUMP_CORE=1)
  endif()
  # The multiarch include dir gives the UAPI headers' asm/ (Debian's clang -target bpf does
  # not search it).
  add_custom_command(OUTPUT ${obj}
    COMMAND ${HOOKDUMP_BPF_CLANG} -g -O2 -Wall -Werror -target bpf -D__TARGET_ARCH_${HOOKDUMP_BPF_ARCH}
            ${core_flags}
            -I${HOOKDUMP_BPF_GEN} -I${PROJECT_SOURCE_DIR}/include/uapi -I${PROJECT_SOURCE_DIR}/bpf
            -I/usr/include/${CMAKE_LIBRARY_ARCHITECTURE}
            -c ${source} -o ${obj}
    # DWARF is not needed at run time (BTF stays): keeps the skeleton small.
    COMMAND ${HOOKDUMP_LLVM_STRIP} -g ${obj}
    DEPENDS ${deps}
    COMMENT "BPF ${name}.bpf.o"
    VERBATIM)
  add_custom_command(OUTPUT ${skel}
    COMMAND ${HOOKDUMP_BPFTOOL} gen skeleton ${obj} name ${name} > ${skel}.tmp
    COMMAND ${CMAKE_COMMAND} -E rename ${skel}.tmp ${skel}
    DEPENDS ${obj}
    COMMENT "BPF skeleton ${name}.skel.h"
    VERBATIM)
  add_custom_target(hookdump_bpf_${name}_skel DEPENDS ${skel})
  add_library(hookdump_bpf_${name} INTERFACE)
  add_dependencies(hookdump_bpf_${name} hookdump_bpf_${name}_skel)
  target_include_directories(hookdump_bpf_${name} INTERFACE ${HOOKDUMP_BPF_GEN})
  target_link_libraries(hookdump_bpf_${name} INTERFACE PkgConfig::LIBBPF)
endfunction()
