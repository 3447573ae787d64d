# Helpers that create every mlaas target the same way: warnings, sanitizers, include root, alias.

# Interface target carrying the project-wide compile options (never CMAKE_CXX_FLAGS).
add_library(mlaas_options INTERFACE)
target_compile_options(mlaas_options INTERFACE
  $<$<CXX_COMPILER_ID:GNU,Clang>:-Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor
    -Wno-missing-field-initializers>
  $<$<BOOL:${MLAAS_WERROR}>:-Werror>
  # GCC 12's flow-based warnings misfire inside libstdc++ at -O3 (GCC bugs 105329, 105651):
  # still shown, never fatal.
  $<$<CXX_COMPILER_ID:GNU>:-Wno-error=restrict -Wno-error=stringop-overflow -Wno-error=array-bounds
    -Wno-error=maybe-uninitialized -Wno-error=stringop-overread>)
if(MLAAS_BUILD_FUZZ)
  # Instrument the libraries too, so libFuzzer sees coverage inside the parsers.
  target_compile_options(mlaas_options INTERFACE -fsanitize=fuzzer-no-link,address,undefined
                         -fno-omit-frame-pointer)
  target_link_options(mlaas_options INTERFACE -fsanitize=address,undefined)
elseif(MLAAS_SANITIZE STREQUAL "address")
  target_compile_options(mlaas_options INTERFACE -fsanitize=address,undefined -fno-omit-frame-pointer
                         -fno-sanitize-recover=undefined)
  target_link_options(mlaas_options INTERFACE -fsanitize=address,undefined)
  target_compile_definitions(mlaas_options INTERFACE MLAAS_SANITIZE_ADDRESS=1)
elseif(MLAAS_SANITIZE STREQUAL "thread")
  target_compile_options(mlaas_options INTERFACE -fsanitize=thread -fno-omit-frame-pointer)
  target_link_options(mlaas_options INTERFACE -fsanitize=thread)
  target_compile_definitions(mlaas_options INTERFACE MLAAS_SANITIZE_THREAD=1)
elseif(MLAAS_SANITIZE)
  message(FATAL_ERROR "MLAAS_SANITIZE must be '', 'address' or 'thread', not '${MLAAS_SANITIZE}'")
endif()

# mlaas_add_library(<module> [DEPS <public targets>...] [PRIVATE_DEPS <targets>...])
# Creates target mlaas_<module> (alias mlaas::<module>) from src/<module>/*.cpp. Headers are
# included as "<module>/header.hpp" from the src/ root.
function(mlaas_add_library module)
  cmake_parse_arguments(ARG "" "" "DEPS;PRIVATE_DEPS" ${ARGN})
  file(GLOB sources CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.cpp
                                      ${CMAKE_CURRENT_SOURCE_DIR}/detail/*.cpp)
  list(FILTER sources EXCLUDE REGEX "/main\\.cpp$")
  add_library(mlaas_${module} STATIC ${sources})
  add_library(mlaas::${module} ALIAS mlaas_${module})
  target_include_directories(mlaas_${module} PUBLIC
    $<BUILD_INTERFACE:${CMAKE_SOURCE_DIR}/src> $<BUILD_INTERFACE:${CMAKE_BINARY_DIR}/src>)
  target_link_libraries(mlaas_${module} PUBLIC mlaas_options ${ARG_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
endfunction()

# mlaas_add_gtest(<name> SOURCES ... DEPS ... [LABELS ...])
# One GoogleTest executable; each TEST becomes its own ctest entry.
function(mlaas_add_gtest name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE mlaas_options mlaas_test_common ${ARG_DEPS}
                        GTest::gmock GTest::gtest_main)
  # The corpus, bin/ and source paths are compiled into mlaas_test_common (the environment
  # variables MLAAS_TESTDATA, MLAAS_BIN_DIR, MLAAS_SOURCE_DIR override them).
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 120 PROPERTIES LABELS "${ARG_LABELS}")
endfunction()
