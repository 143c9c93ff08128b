#!/usr/bin/env python3
# The longest C functions of src/: lines from the opening '{' (alone at the
# start of a line) to the closing '}' at column 0. The measure of issue 10's
# "longest function"; tables are not functions and are not counted.
# Usage: python3 scripts/funclen.py [N]   (the N longest, 15 by default)
import glob
import re
import sys

found = []
for path in glob.glob('src/**/*.c', recursive=True):
    lines = open(path, encoding='utf-8').read().split('\n')
    i = 0
    while i < len(lines):
        if lines[i] == '{' and i > 0:
            j = i - 1
            while j > 0 and lines[j - 1].strip() and not lines[j - 1].startswith(('}', '#', '/*', ' *')) \
                    and not lines[j - 1].endswith(';'):
                j -= 1
            name = re.search(r'(\w+)\(', ' '.join(lines[j:i]))
            k = i + 1
            while k < len(lines) and lines[k] != '}':
                k += 1
            found.append((k - i + 1, path, name.group(1) if name else '?', i + 1))
            i = k
        i += 1
found.sort(reverse=True)
for n, path, name, line in found[:int(sys.argv[1]) if len(sys.argv) > 1 else 15]:
    print(n, path, name, line)
