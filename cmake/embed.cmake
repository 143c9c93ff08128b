# Run by the build (cmake -P) whenever an embedded file changes: every file
# of SRC_DIR matching GLOB becomes a NUL-terminated C array PREFIX<name>
# with its length PREFIX<name>_len (the NUL not counted), defined in OUT_C
# and declared in OUT_H. Pure CMake, so that the build needs nothing beyond
# cmake and a C compiler. Used for the data kind's Lua scripts and for the
# web dashboard of 'hotfix serve'.
#
#   cmake -DSRC_DIR=src/kinds/lua -DGLOB=*.lua -DPREFIX=hf_data_lua_
#         -DNAMES=stem -DOUT_C=data_lua.c -DOUT_H=data_lua.h
#         -DINCLUDE=kinds/data_lua.h -DGUARD=HF_KINDS_DATA_LUA_H
#         -DWHAT="The data kind's server-side scripts" -P cmake/embed.cmake
#
# NAMES: 'stem' names an array after the file without its extension
# (common.lua: common); 'file' after the whole name, each character that
# cannot be in a C identifier made '_' (app.js: app_js).
cmake_policy(VERSION 3.18)
foreach(var SRC_DIR GLOB PREFIX NAMES OUT_C OUT_H INCLUDE GUARD WHAT)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "embed.cmake: ${var} is not set")
  endif()
endforeach()

file(GLOB files "${SRC_DIR}/${GLOB}")
list(SORT files)
file(RELATIVE_PATH src_rel "${CMAKE_CURRENT_LIST_DIR}/.." "${SRC_DIR}")

set(note "Generated at build time by cmake/embed.cmake from the files of\n * ${src_rel}: edit them, not this file.")
set(c "/* ${note} */\n#include <stddef.h>\n\n#include \"${INCLUDE}\"\n")
set(h "/* ${WHAT}, each NUL-terminated.\n * ${note} */\n")
string(APPEND h "#ifndef ${GUARD}\n#define ${GUARD}\n\n#include <stddef.h>\n")

foreach(path ${files})
  get_filename_component(base "${path}" NAME)
  # An editor's files (hidden, backups) are not the sources'.
  if(base MATCHES "^\\." OR base MATCHES "~$")
    continue()
  endif()
  if(NAMES STREQUAL "stem")
    get_filename_component(name "${path}" NAME_WE)
  elseif(NAMES STREQUAL "file")
    string(MAKE_C_IDENTIFIER "${base}" name)
  else()
    message(FATAL_ERROR "embed.cmake: NAMES is 'stem' or 'file', not '${NAMES}'")
  endif()
  if(NOT name MATCHES "^[a-z][a-z0-9_]*$")
    message(FATAL_ERROR "embed.cmake: '${path}': '${name}' is not a lower-case C identifier")
  endif()
  file(READ "${path}" hex HEX)
  string(LENGTH "${hex}" len)
  math(EXPR len "${len} / 2")
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
  # The arrays are used as C strings: a NUL inside would cut them short.
  string(FIND "${bytes}" "0x00," nul)
  if(NOT nul EQUAL -1)
    message(FATAL_ERROR "embed.cmake: '${path}' contains a NUL byte")
  endif()
  # Twelve bytes a line (CMake's regular expressions have no counted
  # repetition: the pattern is spelled out).
  string(REPEAT "0x[0-9a-f][0-9a-f]," 12 line)
  string(REGEX REPLACE "(${line})" "\\1\n\t" bytes "${bytes}")
  string(APPEND c "\n/* ${base} */\nconst char ${PREFIX}${name}[] = {\n\t${bytes}0x00\n};\n")
  string(APPEND c "const size_t ${PREFIX}${name}_len = ${len};\n")
  string(APPEND h "\nextern const char ${PREFIX}${name}[];\nextern const size_t ${PREFIX}${name}_len;\n")
endforeach()
string(APPEND h "\n#endif\n")

file(WRITE "${OUT_C}" "${c}")
file(WRITE "${OUT_H}" "${h}")
