# Run by the build (cmake -P) whenever a script changes: every .lua file of
# SRC_DIR becomes a NUL-terminated C array hf_data_lua_<name> with its
# length hf_data_lua_<name>_len (the NUL not counted), defined in OUT_C and
# declared in OUT_H. Pure CMake, so that the build needs nothing beyond
# cmake and a C compiler.
#
#   cmake -DSRC_DIR=src/kinds/lua -DOUT_C=data_lua.c -DOUT_H=data_lua.h -P embed.cmake
foreach(var SRC_DIR OUT_C OUT_H)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "embed.cmake: ${var} is not set")
  endif()
endforeach()

file(GLOB scripts "${SRC_DIR}/*.lua")
list(SORT scripts)
get_filename_component(header_name "${OUT_H}" NAME)

set(note "Generated at build time by src/kinds/lua/embed.cmake from the scripts of\n * src/kinds/lua: edit them, not this file.")
set(c "/* ${note} */\n#include <stddef.h>\n\n#include \"kinds/${header_name}\"\n")
set(h "/* The data kind's server-side scripts, each NUL-terminated.\n * ${note} */\n")
string(APPEND h "#ifndef HF_KINDS_DATA_LUA_H\n#define HF_KINDS_DATA_LUA_H\n\n#include <stddef.h>\n")

foreach(script ${scripts})
  get_filename_component(name "${script}" NAME_WE)
  if(NOT name MATCHES "^[a-z][a-z0-9_]*$")
    message(FATAL_ERROR "embed.cmake: '${script}': a script's name must be a C identifier")
  endif()
  file(READ "${script}" hex HEX)
  string(LENGTH "${hex}" len)
  math(EXPR len "${len} / 2")
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
  # The arrays are used as C strings: a NUL inside would cut them short.
  string(FIND "${bytes}" "0x00," nul)
  if(NOT nul EQUAL -1)
    message(FATAL_ERROR "embed.cmake: '${script}' contains a NUL byte")
  endif()
  # Twelve bytes a line (CMake's regular expressions have no counted
  # repetition: the pattern is spelled out).
  string(REPEAT "0x[0-9a-f][0-9a-f]," 12 line)
  string(REGEX REPLACE "(${line})" "\\1\n\t" bytes "${bytes}")
  string(APPEND c "\n/* ${name}.lua */\nconst char hf_data_lua_${name}[] = {\n\t${bytes}0x00\n};\n")
  string(APPEND c "const size_t hf_data_lua_${name}_len = ${len};\n")
  string(APPEND h "\nextern const char hf_data_lua_${name}[];\nextern const size_t hf_data_lua_${name}_len;\n")
endforeach()
string(APPEND h "\n#endif\n")

file(WRITE "${OUT_C}" "${c}")
file(WRITE "${OUT_H}" "${h}")
