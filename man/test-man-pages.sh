#!/bin/sh
# man-pages: each built page renders cleanly, and says what the docs say.
#
#   test-man-pages.sh DOCS_VMLEASECTL_MD PAGE...
#
# For each PAGE (a built man page, e.g. vmleasectl.1):
#   - groff, as man(1) runs it (-man -t, UTF-8), with every warning enabled
#     (-ww): any diagnostic on standard error fails the page;
#   - `mandoc -T lint -W warning`: any message fails the page, except those
#     that scdoc's output always gives ("skipping paragraph macro: PP empty",
#     "... PP after SH" and "... PP after SS": scdoc writes .P before and
#     after each heading);
#   - no @VARIABLE@ left over from configure_file;
#   - it starts with .TH NAME SECTION, as its file name says.
# For vmleasectl.1 also: its EXIT STATUS table has the same codes and error
# names as the table in docs/vmleasectl.md (which the cli-help test holds
# to `vmleasectl --help`).
set -u

DOCS=$1
shift

failures=0
fail () {
    echo "FAIL: $*"
    failures=$((failures + 1))
}

for page in "$@"; do
    base=$(basename "$page")
    name=${base%.*}
    section=${base##*.}

    if ! head -n 20 "$page" | grep -q "^\.TH \"$name\" \"$section\""; then
        fail "$base: no .TH \"$name\" \"$section\" header"
    fi

    # Plain groff, without preconv (-k): a character outside ASCII warns,
    # so the pages stay readable wherever they are rendered.
    out=$(groff -man -t -Tutf8 -ww -z "$page" 2>&1)
    if [ -n "$out" ]; then
        fail "$base: groff -ww warns:"
        printf '%s\n' "$out" | sed 's/^/    | /'
    else
        echo "ok: $base renders with groff -man -t -ww without a warning"
    fi

    out=$(mandoc -T lint -W warning "$page" 2>&1 |
          grep -v -e 'skipping paragraph macro: PP empty' \
                  -e 'skipping paragraph macro: PP after S[HS]')
    if [ -n "$out" ]; then
        fail "$base: mandoc -T lint:"
        printf '%s\n' "$out" | sed 's/^/    | /'
    else
        echo "ok: $base passes mandoc -T lint"
    fi

    if grep -n '@[A-Z_][A-Z_]*@' "$page"; then
        fail "$base: unsubstituted @VARIABLE@ above"
    fi

    # The rendered text has every section a page of this kind needs.
    text=$(MANWIDTH=80 man -l "$page" 2>/dev/null)
    for heading in NAME DESCRIPTION "SEE ALSO"; do
        printf '%s\n' "$text" | grep -qx "$heading" ||
            fail "$base: no $heading section in the rendered page"
    done

    if [ "$base" = vmleasectl.1 ]; then
        # "| 4 | `NotAuthorized` | ..." -> "4 NotAuthorized"; "| 0 | | ..." -> "0 -"
        want=$(sed -n 's/^| \([0-9][0-9]*\) | *`\{0,1\}\([A-Za-z]*\)`\{0,1\} *|.*/\1 \2/p' "$DOCS" |
               sed 's/ $/ -/')
        # The table's rows in the rendered page: "│4    │ NotAuthorized  │ ..."
        got=$(printf '%s\n' "$text" |
              sed -n '/^EXIT STATUS/,/^[A-Z]/s/^ *│\([0-9][0-9]*\) *│ \([A-Za-z-]*\) .*/\1 \2/p')
        if [ -z "$want" ]; then
            fail "no exit code table found in $DOCS"
        elif [ "$want" != "$got" ]; then
            fail "vmleasectl.1's exit codes differ from $DOCS:"
            printf 'docs:\n%s\nman page:\n%s\n' "$want" "$got" | sed 's/^/    | /'
        else
            echo "ok: vmleasectl.1 lists the exit codes of docs/vmleasectl.md ($(printf '%s\n' "$want" | wc -l) codes)"
        fi
    fi
done

if [ "$failures" -ne 0 ]; then
    echo "$failures check(s) failed"
    exit 1
fi
