# Debian's xsimd 8.1 package exports a link dependency on a target named `xtl` that no
# Debian package provides (xsimd needs xtl only for its optional xtl::xcomplex support,
# which dare does not use). Without a target of that name the linker is asked for -lxtl.
# An empty interface target stands in for it.
if(NOT TARGET xtl)
  add_library(xtl INTERFACE IMPORTED)
endif()
