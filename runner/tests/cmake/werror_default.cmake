# ctest build.werror_off_by_default: a plain configure of the runner must
# not turn warnings into errors (issue 17 point 4).
# cmake -DSRC=runner-dir -DSCRATCH=dir -P werror_default.cmake
file(REMOVE_RECURSE ${SCRATCH})
execute_process(
  COMMAND ${CMAKE_COMMAND} -S ${SRC} -B ${SCRATCH} -DBUILD_TESTING=OFF
  RESULT_VARIABLE rc
  OUTPUT_VARIABLE out
  ERROR_VARIABLE out)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "configure failed:\n${out}")
endif()
file(STRINGS ${SCRATCH}/CMakeCache.txt werror REGEX "^KVMSR_WERROR:")
file(REMOVE_RECURSE ${SCRATCH})
if(NOT werror STREQUAL "KVMSR_WERROR:BOOL=OFF")
  message(FATAL_ERROR "a default configure gives '${werror}', want KVMSR_WERROR:BOOL=OFF")
endif()
message(STATUS "default configure: ${werror}")
