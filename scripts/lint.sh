#!/usr/bin/env bash
# lint.sh — `make lint`: cppcheck, the banned-call check and the format check.
#
# In the spirit of curl's checksrc: calls that invite overflows or silent
# misparses are banned outright (STYLE.md), whatever cppcheck thinks.
# Generated protobuf code lives in build/ and is never checked.
set -uo pipefail
cd "$(dirname "$0")/.."

status=0
files=$(git ls-files '*.c' '*.h' 2>/dev/null)
[ -n "$files" ] || files=$(find common services tests tools -name '*.[ch]' 2>/dev/null)

# 1. banned calls
banned='\b(sprintf|vsprintf|strcpy|strcat|strtok|atoi|atol|atoll|gets)[[:space:]]*\('
if hits=$(grep -nE "$banned" $files); then
    echo "lint: banned calls (use snprintf, memcpy with a checked length, strtok_r, numparse_*):"
    echo "$hits"
    status=1
fi

# 2. cppcheck
if ! cppcheck --quiet --error-exitcode=1 --std=c11 --enable=warning,portability,performance \
    --inline-suppr --suppress=missingIncludeSystem --suppress=unmatchedSuppression \
    -I . -D_GNU_SOURCE $files; then
    echo "lint: cppcheck found problems"
    status=1
fi

# 3. format
if ! clang-format --dry-run --Werror $files 2>/dev/null; then
    echo "lint: files not formatted (run make fmt):"
    for f in $files; do
        clang-format --dry-run --Werror "$f" >/dev/null 2>&1 || echo "  $f"
    done
    status=1
fi

[ "$status" -eq 0 ] && echo "lint: clean"
exit "$status"
