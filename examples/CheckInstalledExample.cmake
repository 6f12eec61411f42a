#===- examples/CheckInstalledExample.cmake - install, then build an app --===#
#
# ctest's install-example: installs the build tree ATTNJIT_BUILD_DIR into a
# scratch prefix, configures and builds examples/runtime-only against it with
# find_package(attnjit CONFIG), checks that the app links no LLVM/MLIR, and runs
# it; with ATTNJIT_AOT it also makes a bundle and an --emit-cpp source, builds
# embedded-bundle-example from it, and runs jit-example (links the compiler).
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

set(extra_args "")
set(bundle_arg "")
if(ATTNJIT_AOT AND EXISTS "${ATTNJIT_AOT}")
  run_step("attnjit-aot" "${ATTNJIT_AOT}" --variants flash --head-dims 64 --causal off
    --dtypes bf16 --archs sm_80,sm_90a -j 2 -o "${work}/example.attnpack")
  set(bundle_arg "${work}/example.attnpack")
  run_step("attnjit-aot --emit-cpp" "${ATTNJIT_AOT}" --head-dims 64 --causal off
    --archs sm_80 -j 1 -q --emit-cpp --name example -o "${work}/example_bundle.cpp")
  list(APPEND extra_args "-DEMBEDDED_BUNDLE_CPP=${work}/example_bundle.cpp")
endif()

run_step("configure the example" ${CMAKE_COMMAND} -G "${ATTNJIT_GENERATOR}"
  -S "${ATTNJIT_SOURCE_DIR}/examples/runtime-only" -B "${work}/build"
  -DCMAKE_BUILD_TYPE=Release "-DCMAKE_PREFIX_PATH=${prefix}" ${extra_args})
run_step("build the example" ${CMAKE_COMMAND} --build "${work}/build")

foreach(app runtime-only-example embedded-bundle-example)
  if(EXISTS "${work}/build/${app}")
    run_step("readelf ${app}" readelf -d "${work}/build/${app}")
    if(step_output MATCHES "libLLVM|libMLIR|libattnjit_compiler")
      message(FATAL_ERROR "${app} links LLVM/MLIR/the compiler:\n${step_output}")
    endif()
  endif()
endforeach()

run_step("run runtime-only-example" "${work}/build/runtime-only-example" ${bundle_arg})
message(STATUS "runtime-only-example:\n${step_output}")
if(NOT step_output MATCHES "no CUDA device present|kernels loaded for")
  message(FATAL_ERROR "unexpected output from runtime-only-example")
endif()
if(bundle_arg AND NOT step_output MATCHES "example.attnpack: 2 kernels")
  message(FATAL_ERROR "runtime-only-example did not load the 2-kernel bundle")
endif()

if(EXISTS "${work}/build/embedded-bundle-example")
  run_step("run embedded-bundle-example" "${work}/build/embedded-bundle-example")
  message(STATUS "embedded-bundle-example:\n${step_output}")
  if(NOT step_output MATCHES "bundle example \\(embedded\\): 1 kernels")
    message(FATAL_ERROR "embedded-bundle-example did not find its embedded bundle")
  endif()
endif()

if(EXISTS "${work}/build/jit-example")
  run_step("run jit-example" ${CMAKE_COMMAND} -E env "ATTNJIT_CACHE_DIR=${work}/cache"
    "${work}/build/jit-example")
  message(STATUS "jit-example:\n${step_output}")
endif()

# The MultiHeadFlashAttention example (needs the compiler component): write a
# state dict, load it, and run a forward pass when a GPU exists.
if(EXISTS "${prefix}/lib/cmake/attnjit/attnjitCompilerTargets.cmake")
  run_step("configure the mha example" ${CMAKE_COMMAND} -G "${ATTNJIT_GENERATOR}"
    -S "${ATTNJIT_SOURCE_DIR}/examples/mha-layer" -B "${work}/build-mha"
    -DCMAKE_BUILD_TYPE=Release "-DCMAKE_PREFIX_PATH=${prefix}")
  run_step("build the mha example" ${CMAKE_COMMAND} --build "${work}/build-mha")
  run_step("mha example --make" "${work}/build-mha/mha-layer-example" --make
    "${work}/mha-state.safetensors")
  run_step("run mha-layer-example" ${CMAKE_COMMAND} -E env "ATTNJIT_CACHE_DIR=${work}/cache"
    "${work}/build-mha/mha-layer-example" "${work}/mha-state.safetensors")
  message(STATUS "mha-layer-example:\n${step_output}")
  if(NOT step_output MATCHES "loaded .*mha-state.safetensors: 8 heads" OR
     NOT step_output MATCHES "no CUDA device present|forward: out \\[4, 20, 128\\]")
    message(FATAL_ERROR "unexpected output from mha-layer-example")
  endif()
endif()
