#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""links.py ROOT [FILE...]: every link in the installed tree under ROOT resolves (only in the
installed FILEs, absolute paths as installed, when given: `links.py / $(dpkg -L sandbox)`).

Checked: the relative links of every Markdown file (inline [text](target) and <img src>), the
file:// URIs of systemd units' Documentation= lines, and the paths man pages name under
/usr/share/doc/ (they must exist under ROOT). Web links (http:, https:, mailto:) and in-page
anchors are not followed. Prints one line per broken link and exits 1 if any.
"""
import gzip
import os
import re
import sys

root = os.path.abspath(sys.argv[1])
broken = []
checked = 0
# [text](target "title"), not images' alt brackets inside code spans (code spans are dropped first)
link_re = re.compile(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
src_re = re.compile(r"""<img[^>]*\ssrc=["']([^"']+)["']""")


def strip_code(text):
    text = re.sub(r"^(```|~~~).*?^\1", "", text, flags=re.S | re.M)
    return re.sub(r"`[^`\n]*`", "", text)


def check_path(where, target, base):
    global checked
    checked += 1
    path = os.path.normpath(os.path.join(base, target))
    prefix = root if root.endswith(os.sep) else root + os.sep  # root "/" (the deb test's chroot)
    if not (path == root or path.startswith(prefix)):
        broken.append(f"{where}: {target}: leaves the installed tree")
    elif not os.path.exists(path):
        broken.append(f"{where}: {target}: no such file")


def installed():
    if len(sys.argv) > 2:
        for f in sys.argv[2:]:
            full = os.path.join(root, f.lstrip("/"))
            if os.path.isfile(full) or os.path.islink(full):
                yield os.path.dirname(full), os.path.basename(full)
    else:
        for dirpath, _, files in os.walk(root):
            for name in files:
                yield dirpath, name


if True:
    for dirpath, name in installed():
        full = os.path.join(dirpath, name)
        rel = "/" + os.path.relpath(full, root)
        if os.path.islink(full) and not os.path.exists(full):
            broken.append(f"{rel}: dangling symbolic link")
            continue
        if name.endswith(".md"):
            text = strip_code(open(full, encoding="utf-8").read())
            for m in list(link_re.finditer(text)) + list(src_re.finditer(text)):
                target = m.group(1)
                if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
                    continue
                check_path(rel, target.split("#", 1)[0], dirpath)
        elif name.endswith((".service", ".socket")):
            for line in open(full, encoding="utf-8"):
                if line.startswith("Documentation="):
                    for uri in line.split("=", 1)[1].split():
                        if uri.startswith("file://"):
                            check_path(rel, root + uri[len("file://"):], "/")
                        elif uri.startswith("man:"):
                            page = re.match(r"man:([^()]+)\((\d)\)", uri)
                            if not page:
                                broken.append(f"{rel}: {uri}: not man:NAME(SECTION)")
                                continue
                            found = any(
                                os.path.exists(os.path.join(root, p.lstrip("/"), f"man{page[2]}", f"{page[1]}.{page[2]}.gz"))
                                for p in ("usr/share/man", "usr/local/share/man"))
                            checked += 1
                            if not found:
                                broken.append(f"{rel}: {uri}: no such page")
        elif name.endswith(".1.gz"):
            text = gzip.open(full, "rt", encoding="utf-8").read()
            text = re.sub(r"\\f[BIRP]|\\", "", text)
            for m in re.finditer(r"(/usr(?:/local)?/share/doc/sandbox(?:/[\w./-]*[\w/])?)", text):
                check_path(rel, root + m.group(1), "/")

for b in broken:
    print(b)
print(f"links.py: {checked} links checked, {len(broken)} broken")
sys.exit(1 if broken else 0)
