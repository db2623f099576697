# SPDX-License-Identifier: Apache-2.0
# install_docs.cmake: installs the documentation (run by `cmake --install` through install(CODE);
# packaging/CMakeLists.txt sets _sandbox_src, _sandbox_docdir and _sandbox_doc_stage first).
#
# Installed in DOCDIR (PREFIX/share/doc/sandbox): README.md, docs/, policies/README.md, and
# examples/ (its README, the example programs' sources, the Python client). Every relative link of
# an installed Markdown file must resolve in the installed tree (test/packaging/links.py checks):
# a link to a file that is not installed (a source file such as packaging/CMakeLists.txt) is
# rewritten to its text and the path in the source tree, "manpages.sh (packaging/manpages.sh in
# the source tree)", instead of being left dangling.

set(docs README.md policies/README.md)
file(GLOB_RECURSE more RELATIVE "${_sandbox_src}" "${_sandbox_src}/docs/*" "${_sandbox_src}/examples/*")
list(FILTER more EXCLUDE REGEX "(^|/)(CMakeLists\\.txt|__pycache__/.*|.*\\.pyc)$")
list(APPEND docs ${more})
list(SORT docs)

# A relative link TARGET in the file REL (both relative to the source root) is installed if its
# normalized path is one of the installed files, or a directory holding one.
function(_sandbox_installed rel target out)
  get_filename_component(dir "${rel}" DIRECTORY)
  if(dir)
    cmake_path(SET path NORMALIZE "${dir}/${target}")
  else()
    cmake_path(SET path NORMALIZE "${target}")
  endif()
  string(REGEX REPLACE "/$" "" path "${path}")
  set(found NO)
  foreach(d IN LISTS docs)
    if(d STREQUAL path OR d MATCHES "^${path}/")
      set(found YES)
      break()
    endif()
  endforeach()
  set(${out} ${found} PARENT_SCOPE)
  set(${out}_path "${path}" PARENT_SCOPE)
endfunction()

set(link_re "\\[([^][]*)\\]\\(([^()# ]+)(#[^() ]*)?\\)")
foreach(rel IN LISTS docs)
  get_filename_component(reldir "${rel}" DIRECTORY)
  set(file "${_sandbox_src}/${rel}")
  if(rel MATCHES "\\.md$")
    file(READ "${file}" rest)
    set(text "")
    while(rest MATCHES "${link_re}")
      set(whole "${CMAKE_MATCH_0}")
      set(label "${CMAKE_MATCH_1}")
      set(target "${CMAKE_MATCH_2}")
      string(FIND "${rest}" "${whole}" at)
      string(SUBSTRING "${rest}" 0 ${at} before)
      string(LENGTH "${whole}" len)
      math(EXPR after "${at} + ${len}")
      string(SUBSTRING "${rest}" ${after} -1 rest)
      string(APPEND text "${before}")
      if(target MATCHES "^[a-zA-Z][a-zA-Z0-9+.-]*:")  # a URL
        string(APPEND text "${whole}")
        continue()
      endif()
      _sandbox_installed("${rel}" "${target}" ok)
      string(REGEX REPLACE "/$" "" bare_label "${label}")
      if(ok)
        string(APPEND text "${whole}")
      elseif(bare_label STREQUAL ok_path OR bare_label STREQUAL "`${ok_path}`" OR label STREQUAL "`${ok_path}/`")
        string(APPEND text "${label} (in the source tree)")
      else()
        string(APPEND text "${label} (${ok_path} in the source tree)")
      endif()
    endwhile()
    string(APPEND text "${rest}")
    file(WRITE "${_sandbox_doc_stage}/${rel}" "${text}")
    set(file "${_sandbox_doc_stage}/${rel}")
  endif()
  file(INSTALL DESTINATION "${_sandbox_docdir}/${reldir}" TYPE FILE FILES "${file}"
       PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
endforeach()
