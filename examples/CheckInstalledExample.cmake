#===- examples/CheckInstalledExample.cmake - install, then build an app --===#
#
# ctest's install-example: installs the build tree ATTNJIT_BUILD_DIR into a
# scratch prefix, configures and builds examples/runtime-only against it with
# find_package(attnjit CONFIG), checks that the app links no LLVM/MLIR, and runs
# it (with a one-kernel bundle from attnjit-aot when ATTNJIT_AOT is given).
#
#===----------------------------------------------------------------------===#
foreach(var ATTNJIT_BUILD_DIR ATTNJIT_SOURCE_DIR ATTNJIT_GENERATOR)
  if(NOT ${var})
    message(FATAL_ERROR "${var} is not set")
  endif()
endforeach()

set(work "${ATTNJIT_BUILD_DIR}/install-example")
set(prefix "${work}/prefix")
file(REMOVE_RECURSE "${work}")
file(MAKE_DIRECTORY "${work}")

function(run_step what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${what} failed (${rc}):\n${out}\n${err}")
  endif()
  set(step_output "${out}" PARENT_SCOPE)
endfunction()

run_step("install" ${CMAKE_COMMAND} --install "${ATTNJIT_BUILD_DIR}" --prefix "${prefix}")
if(NOT EXISTS "${prefix}/lib/cmake/attnjit/attnjitConfig.cmake")
  message(FATAL_ERROR "install did not produce lib/cmake/attnjit/attnjitConfig.cmake")
endif()

run_step("configure the example" ${CMAKE_COMMAND} -G "${ATTNJIT_GENERATOR}"
  -S "${ATTNJIT_SOURCE_DIR}/examples/runtime-only" -B "${work}/build"
  -DCMAKE_BUILD_TYPE=Release "-DCMAKE_PREFIX_PATH=${prefix}")
run_step("build the example" ${CMAKE_COMMAND} --build "${work}/build")
set(app "${work}/build/runtime-only-example")

run_step("readelf" readelf -d "${app}")
if(step_output MATCHES "libLLVM|libMLIR|libattnjit_compiler")
  message(FATAL_ERROR "the runtime-only example links LLVM/MLIR/the compiler:\n${step_output}")
endif()

set(bundle_arg "")
if(ATTNJIT_AOT AND EXISTS "${ATTNJIT_AOT}")
  run_step("attnjit-aot" "${ATTNJIT_AOT}" --variants flash --head-dims 64 --causal off
    --dtypes bf16 --archs sm_90a -j 1 -o "${work}/example.attnpack")
  set(bundle_arg "${work}/example.attnpack")
endif()

run_step("run the example" "${app}" ${bundle_arg})
message(STATUS "example output:\n${step_output}")
if(NOT step_output MATCHES "no CUDA device present|kernels loaded for")
  message(FATAL_ERROR "unexpected example output")
endif()
