# Writes OUT (a C header defining ATTNJIT_SOURCE_HASH) with a SHA-256 over the
# sources that decide what the compiler emits: the attn dialect, the passes,
# the kernel recipes and the core (spec, kernel ABI tables, Philox). Runs on every build (cmake -P)
# and rewrites OUT only when the hash changed, so the disk cache's build id
# follows uncommitted and post-configure edits, not only the configure-time
# git hash.
#   cmake -DSRC=<source root> -DOUT=<header> -P SourceHash.cmake
file(GLOB_RECURSE files
  ${SRC}/compiler/*.cpp ${SRC}/compiler/*.h ${SRC}/compiler/*.td
  ${SRC}/dialects/*.cpp ${SRC}/dialects/*.h ${SRC}/dialects/*.td
  ${SRC}/kernels/*.cpp ${SRC}/kernels/*.h ${SRC}/kernels/*.def
  ${SRC}/core/*.cpp ${SRC}/core/*.h)
list(SORT files)
set(all "")
foreach(f IN LISTS files)
  file(SHA256 ${f} h)
  file(RELATIVE_PATH rel ${SRC} ${f})
  string(APPEND all "${rel}=${h}\n")
endforeach()
string(SHA256 digest "${all}")
string(SUBSTRING "${digest}" 0 16 digest)
set(text "#define ATTNJIT_SOURCE_HASH \"${digest}\"\n")
if(EXISTS ${OUT})
  file(READ ${OUT} old)
  if(old STREQUAL text)
    return()
  endif()
endif()
file(WRITE ${OUT} "${text}")
