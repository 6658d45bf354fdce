# tests/compile_check.cmake - a CTest test that some code must NOT compile.
#   cmake -D CC=... -D SRC=file.c -D INCLUDE=dir -D CASES="A;B" -D MESSAGE=text
#         -P compile_check.cmake
# SRC must compile as it is (the control: a rejection for another reason
# would make every case pass); compiled with -D<case> for each of CASES it
# must fail, and the compiler's output must contain MESSAGE.
foreach(var CC SRC INCLUDE CASES MESSAGE)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "compile_check: ${var} is not set")
  endif()
endforeach()
set(flags -std=c11 -Wall -Werror -fsyntax-only -I${INCLUDE})
execute_process(COMMAND ${CC} ${flags} ${SRC} RESULT_VARIABLE rc OUTPUT_VARIABLE out
  ERROR_VARIABLE out)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "compile_check: the control does not compile:\n${out}")
endif()
message(STATUS "compile_check: the control compiles")
foreach(case ${CASES})
  execute_process(COMMAND ${CC} ${flags} -D${case} ${SRC} RESULT_VARIABLE rc
    OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(rc EQUAL 0)
    message(FATAL_ERROR "compile_check: ${case} compiled; it must be rejected")
  endif()
  string(FIND "${out}" "${MESSAGE}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "compile_check: ${case} was rejected for another reason:\n${out}")
  endif()
  message(STATUS "compile_check: ${case} is rejected: ${MESSAGE}")
endforeach()
