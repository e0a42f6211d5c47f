# ssehub_component(<name> [USES <component>...] [LIBRARIES <target>...] [SOURCES <file>...])
#
# Builds src/<name>/ (with its subfolders) as the static library ssehub_<name>. Its headers
# are included as "<name>/<file>.hpp", through an include root of its own: a folder in the
# build tree holding one link, <name> -> src/<name>. A library's include path holds its own
# root and the roots of the components it USES (and of what those use), never src/ itself,
# so including a component it does not use is a compile error, not a review comment. The
# uses form the layers; a use that would close a cycle cannot be declared, as CMake needs
# every used component defined first.
#
# src/<name>/main.cpp, if any, is left out: it belongs to the executable.

define_property(GLOBAL PROPERTY SSEHUB_COMPONENTS
  BRIEF_DOCS "ssehub_<name> of every component, in declaration order" FULL_DOCS "")

function(ssehub_component name)
  cmake_parse_arguments(PARSE_ARGV 1 ARG "" "" "USES;LIBRARIES;SOURCES")
  foreach(used IN LISTS ARG_USES)
    if(NOT TARGET ssehub_${used})
      message(FATAL_ERROR "component ${name} uses ${used}, which is not declared before it: "
                          "a component may only use the layers below it")
    endif()
  endforeach()
  file(GLOB_RECURSE sources CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/${name}/*.cpp)
  list(FILTER sources EXCLUDE REGEX "/src/${name}/main\\.cpp$")
  set(root ${CMAKE_BINARY_DIR}/component_roots/${name})
  file(MAKE_DIRECTORY ${root})
  file(CREATE_LINK ${CMAKE_SOURCE_DIR}/src/${name} ${root}/${name} SYMBOLIC)

  add_library(ssehub_${name} STATIC ${sources} ${ARG_SOURCES})
  target_include_directories(ssehub_${name} PUBLIC ${root})
  target_compile_options(ssehub_${name} PRIVATE ${SSEHUB_WARNINGS})
  list(TRANSFORM ARG_USES PREPEND ssehub_ OUTPUT_VARIABLE used_targets)
  target_link_libraries(ssehub_${name} PUBLIC ssehub_base ${used_targets} ${ARG_LIBRARIES})
  set_property(TARGET ssehub_${name} PROPERTY SSEHUB_USES "${ARG_USES}")
  set_property(GLOBAL APPEND PROPERTY SSEHUB_COMPONENTS ssehub_${name})
endfunction()

# Writes "<component>: <used component>..." per line, the uses as declared: the layer check
# of the unit tests (tests/architecture) compares every #include under src/ with it.
function(ssehub_write_component_graph path)
  get_property(targets GLOBAL PROPERTY SSEHUB_COMPONENTS)
  set(text "")
  foreach(target IN LISTS targets)
    string(REGEX REPLACE "^ssehub_" "" name ${target})
    get_property(uses TARGET ${target} PROPERTY SSEHUB_USES)
    list(JOIN uses " " uses)
    string(APPEND text "${name}: ${uses}\n")
  endforeach()
  file(WRITE ${path} "${text}")
endfunction()
