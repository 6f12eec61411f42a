#===- cmake/Sanitizers.cmake - ASan/UBSan and libFuzzer builds -----------===#
#
# ATTNJIT_SANITIZE=ON builds attnjit's own sources (libraries, tools, tests)
# with AddressSanitizer and UndefinedBehaviorSanitizer. MLIR and LLVM are
# Debian's prebuilt, uninstrumented libraries, which needs:
#  - -fno-sanitize=vptr: MLIR/LLVM classes have no RTTI, and attnjit_compiler is
#    built with -fno-rtti; the vptr check would need type info from them.
#  - no -D_GLIBCXX_SANITIZE_VECTOR (container-overflow annotations): vectors
#    crossing into uninstrumented code would report false overflows.
#  - ASAN_OPTIONS=detect_odr_violation=0 at run time (scripts/sanitize.sh sets
#    it): attnjit_compiler links MLIR's static archives with hidden symbols,
#    which ASan's ODR check reports against the tools' copies of inline globals.
#  - ASAN_OPTIONS=allow_user_poisoning=0 (set there too): LLVM's headers poison
#    the unused part of a BumpPtrAllocator slab when built with ASan, so the
#    allocator code inlined into attnjit's sources poisons memory that MLIR's
#    uninstrumented copy then hands out, and every MLIRContext would report
#    use-after-poison. ASan's own checks (heap, stack, globals) are unaffected.
# Every UBSan finding aborts (-fno-sanitize-recover=all), so a test that
# triggers one fails.
#
# ATTNJIT_FUZZ=ON (clang only; implies ATTNJIT_SANITIZE) also instruments the
# sources for coverage (-fsanitize=fuzzer-no-link) and builds the libFuzzer
# targets in fuzz/. scripts/sanitize.sh and scripts/fuzz.sh configure such a
# build in build-asan with clang-22 (Debian: clang-22, libclang-rt-22-dev).
#
#===----------------------------------------------------------------------===#
option(ATTNJIT_SANITIZE "Build attnjit's sources with AddressSanitizer and UBSan" OFF)
option(ATTNJIT_FUZZ "Build the libFuzzer targets in fuzz/ (clang; implies ATTNJIT_SANITIZE)" OFF)

if(ATTNJIT_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "ATTNJIT_FUZZ needs clang (libFuzzer), got ${CMAKE_CXX_COMPILER_ID}; "
      "configure with -DCMAKE_CXX_COMPILER=clang++-22 -DCMAKE_C_COMPILER=clang-22")
  endif()
  set(ATTNJIT_SANITIZE ON CACHE BOOL "" FORCE)
endif()

if(ATTNJIT_SANITIZE)
  set(attnjit_sanitizers -fsanitize=address,undefined -fno-sanitize=vptr
      -fno-sanitize-recover=all -fno-omit-frame-pointer)
  if(CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    add_compile_options(${attnjit_sanitizers} -gline-tables-only)
  else()
    add_compile_options(${attnjit_sanitizers} -g1)
  endif()
  add_link_options(${attnjit_sanitizers})
  if(ATTNJIT_FUZZ)
    add_compile_options(-fsanitize=fuzzer-no-link)
  endif()
  message(STATUS "attnjit: sanitizers on (${attnjit_sanitizers}); fuzz targets: ${ATTNJIT_FUZZ}")
endif()
