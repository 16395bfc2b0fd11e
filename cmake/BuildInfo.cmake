# Writes <OUT> from <IN> (common/build_info.h.in) with the version and the
# source commit, at every build (cmake -P, from the care_build_info target),
# and replaces <OUT> only when the text changed: a build with nothing new
# recompiles nothing, a new commit recompiles only what includes the header.
#
#   -DIN=... -DOUT=... -DSOURCE_DIR=... -DCARE_VERSION=... [-DCARE_COMMIT=...]
#
# CARE_COMMIT empty: `git rev-parse --short=12 HEAD` of SOURCE_DIR, with
# "-dirty" when tracked files differ from it; "unknown" without git (a
# container build whose context leaves out .git passes -DCARE_COMMIT).
if(NOT CARE_COMMIT)
  find_program(GIT git)
  set(CARE_COMMIT unknown)
  if(GIT)
    execute_process(COMMAND ${GIT} -C ${SOURCE_DIR} rev-parse --short=12 HEAD
                    OUTPUT_VARIABLE head OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE rc)
    if(rc EQUAL 0 AND head)
      set(CARE_COMMIT ${head})
      execute_process(COMMAND ${GIT} -C ${SOURCE_DIR} diff --quiet HEAD -- RESULT_VARIABLE dirty
                      OUTPUT_QUIET ERROR_QUIET)
      if(NOT dirty EQUAL 0)
        string(APPEND CARE_COMMIT -dirty)
      endif()
    endif()
  endif()
endif()
# Both values end up in C++ string literals and Prometheus label values.
foreach(value CARE_VERSION CARE_COMMIT)
  if(NOT ${value} MATCHES "^[A-Za-z0-9._+-]+$")
    message(FATAL_ERROR "${value}=\"${${value}}\": only letters, digits and . _ + - are allowed")
  endif()
endforeach()
configure_file(${IN} ${OUT}.tmp @ONLY)
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)
file(REMOVE ${OUT}.tmp)
