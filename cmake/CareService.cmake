include(${CMAKE_CURRENT_LIST_DIR}/CareMigrations.cmake)

# care_service(<name> SOURCES <files...> [DEPS <targets...>])
# One library per service (domain logic, storage, gRPC adapter), linked by
# its binary care_<name> (from main.cc) and by its tests. Migrations in
# migrations/NNNN_*.sql (SQLite) and migrations/postgres/NNNN_*.sql are
# compiled in as <Name>Migrations() and <Name>PostgresMigrations().
function(care_service name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  string(SUBSTRING ${name} 0 1 first)
  string(TOUPPER ${first} first)
  string(SUBSTRING ${name} 1 -1 rest)
  set(lib care_${name}_lib)
  list(FILTER ARG_SOURCES INCLUDE REGEX "\\.cc$")
  add_library(${lib} STATIC ${ARG_SOURCES})
  target_link_libraries(${lib} PUBLIC care_common care_clients ${ARG_DEPS})
  if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/migrations)
    care_embed_migrations(${lib} ${name} ${CMAKE_CURRENT_SOURCE_DIR}/migrations ${first}${rest}Migrations)
    care_embed_migrations(${lib} ${name} ${CMAKE_CURRENT_SOURCE_DIR}/migrations/postgres
                          ${first}${rest}PostgresMigrations)
  endif()
  add_executable(care_${name} main.cc)
  target_link_libraries(care_${name} PRIVATE ${lib})
endfunction()
