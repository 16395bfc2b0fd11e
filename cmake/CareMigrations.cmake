# care_embed_migrations(<target> <component> <dir> <function>)
# Compiles every <dir>/NNNN_name.sql into <target> as
#   std::vector<care::Migration> <function>();
# so a binary carries its schema and needs no files at run time (Kubernetes
# runs it on a read-only root filesystem).
function(care_embed_migrations target component dir function)
  file(GLOB sql_files CONFIGURE_DEPENDS ${dir}/*.sql)
  list(SORT sql_files)
  # An edited migration re-runs the configure step, which re-embeds it.
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${sql_files})
  set(body "")
  foreach(f ${sql_files})
    get_filename_component(name ${f} NAME_WE)
    string(REGEX MATCH "^([0-9]+)_(.*)$" _ ${name})
    if(NOT CMAKE_MATCH_1)
      message(FATAL_ERROR "migration ${f} must be named NNNN_description.sql")
    endif()
    math(EXPR version "${CMAKE_MATCH_1} + 0")
    file(READ ${f} sql)
    string(APPEND body "      {\"${component}\", ${version}, \"${CMAKE_MATCH_2}\", R\"care_sql(${sql})care_sql\"},\n")
  endforeach()
  set(out ${CMAKE_CURRENT_BINARY_DIR}/${function}_migrations.cc)
  # Written via a copy so an unchanged schema does not trigger a rebuild.
  file(WRITE ${out}.tmp
"// Generated from ${dir} by cmake/CareMigrations.cmake.
#include \"common/sqlite.h\"

namespace care {
std::vector<Migration> ${function}() {
  return {
${body}  };
}
}  // namespace care
")
  configure_file(${out}.tmp ${out} COPYONLY)
  target_sources(${target} PRIVATE ${out})
endfunction()
