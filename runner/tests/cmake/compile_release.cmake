# ctest build.release_werror_ktap: compiles one source file the way a
# Release build with -Werror does (GCC 12 warned with -Wrestrict at -O3 in
# src/ktap.cpp, issue 17 point 4).
# cmake -DCXX=... -DSRC=... -DINC=... -DOUT=... -P compile_release.cmake
execute_process(
  COMMAND ${CXX} -std=c++20 -O3 -DNDEBUG -Wall -Wextra -Wshadow -Wnon-virtual-dtor -Wpedantic -Werror
          -I${INC} -c ${SRC} -o ${OUT}
  RESULT_VARIABLE rc
  OUTPUT_VARIABLE out
  ERROR_VARIABLE out)
file(REMOVE ${OUT})
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${SRC} does not build with -O3 -Werror:\n${out}")
endif()
message(STATUS "${SRC}: clean at -O3 -Werror")
