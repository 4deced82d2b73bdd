#!/bin/sh
# cli-help: vmleasectl's command line works without vmleased or any bus.
#
#   test-cli-help.sh VMLEASECTL [DOCS]
#
# Checks that `vmleasectl --help` and `vmleasectl CMD [SUB] --help`, for every
# command listed in those helps, exit 0 and print Usage, examples and exit
# codes; that bad command lines exit 2 before any bus is touched; that an
# unreachable bus exits 3; and, given DOCS (docs/vmleasectl.md), that the
# exit code table there matches the one in --help.
set -u

VMLEASECTL=$1
DOCS=${2:-}

# No bus here: a command that connected when it should not would exit 3.
DBUS_SYSTEM_BUS_ADDRESS=unix:path=/nonexistent/vmlease-cli-help-test
LC_ALL=C
export DBUS_SYSTEM_BUS_ADDRESS LC_ALL

failures=0
out=

fail () {
    echo "FAIL: $*"
    failures=$((failures + 1))
}

# expect_exit CODE ARG...: run vmleasectl, check its exit status; output in $out.
expect_exit () {
    want=$1
    shift
    out=$("$VMLEASECTL" "$@" 2>&1)
    got=$?
    if [ "$got" -ne "$want" ]; then
        fail "vmleasectl $* exited $got, expected $want"
        printf '%s\n' "$out" | sed 's/^/    | /'
        return 1
    fi
    echo "ok: vmleasectl $* -> $got"
}

expect_output () {
    what=$1
    pattern=$2
    case $out in
        *"$pattern"*) ;;
        *) fail "$what: no '$pattern' in its output" ;;
    esac
}

# The names listed in a help's "Commands:" section.
commands_of () {
    printf '%s\n' "$1" | sed -n '/^Commands:/,/^$/s/^  \([a-z][a-z-]*\)  .*/\1/p'
}

check_help () {
    expect_exit 0 "$@" --help || return 0
    expect_output "vmleasectl $* --help" "Usage"
    expect_output "vmleasectl $* --help" "vmleasectl $*"
}

# A command (not a group): examples and exit codes in its help.
check_leaf_help () {
    check_help "$@"
    expect_output "vmleasectl $* --help" "Example"
    expect_output "vmleasectl $* --help" "Exit status:"
}

# --- every --help ------------------------------------------------------------

check_help
main_help=$out
expect_output "vmleasectl --help" "Exit status:"
commands=$(commands_of "$main_help")
[ -n "$commands" ] || fail "vmleasectl --help lists no commands"

for cmd in $commands; do
    check_help "$cmd"
    subcommands=$(commands_of "$out")
    if [ -z "$subcommands" ]; then
        check_leaf_help "$cmd"
        continue
    fi
    for sub in $subcommands; do
        check_leaf_help "$cmd" "$sub"
    done
done

expect_exit 0 -h
expect_output "vmleasectl -h" "Usage"
expect_exit 0 --version
expect_output "vmleasectl --version" "vmleasectl "

# --- bad command lines: exit 2, with a hint, and no bus needed ---------------

expect_exit 2 && expect_output "no command" "Try 'vmleasectl --help'"
expect_exit 2 frobnicate && expect_output "unknown command" "unknown command 'frobnicate'"
expect_exit 2 --frobnicate
expect_exit 2 lockspace
expect_exit 2 lockspace frobnicate && expect_output "unknown subcommand" "Try 'vmleasectl lockspace --help'"
expect_exit 2 lockspace add ls1 --path /srv/leases.img
expect_exit 2 lockspace add ls1 --host-id one --path /srv/leases.img
expect_exit 2 lockspace add ls1 --host-id 1 --path /srv/leases.img --offset 1X
expect_exit 2 lockspace add ls1 --host-id 1 --path /srv/leases.img --io-timeout -1
expect_exit 2 lockspace remove
expect_exit 2 create 6f1c0c5e-4b8e-4c1a-9d57-0e4f3b1a2c10
expect_exit 2 create 6f1c0c5e-4b8e-4c1a-9d57-0e4f3b1a2c10 --lockspace ls1 --path /srv/leases.img
expect_exit 2 acquire && expect_output "missing UUID" "Try 'vmleasectl acquire --help'"
expect_exit 2 acquire one two
expect_exit 2 acquire 6f1c0c5e-4b8e-4c1a-9d57-0e4f3b1a2c10 --wait soon
expect_exit 2 acquire 6f1c0c5e-4b8e-4c1a-9d57-0e4f3b1a2c10 --pid 99999999999
expect_exit 2 acquire 6f1c0c5e-4b8e-4c1a-9d57-0e4f3b1a2c10 --wait
expect_exit 2 release
expect_exit 2 inquire
expect_exit 2 delete
expect_exit 2 list extra
expect_exit 2 status --frobnicate
expect_exit 2 monitor extra
expect_exit 2 transfer
expect_exit 2 transfer frobnicate && expect_output "unknown step" "Try 'vmleasectl transfer --help'"
expect_exit 2 transfer begin
expect_exit 2 transfer begin 6f1c0c5e-4b8e-4c1a-9d57-0e4f3b1a2c10 vml1.AAAA
expect_exit 2 transfer perform 6f1c0c5e-4b8e-4c1a-9d57-0e4f3b1a2c10 vml1.AAAA --success
expect_exit 2 transfer finish 6f1c0c5e-4b8e-4c1a-9d57-0e4f3b1a2c10 vml1.AAAA --postcopy
expect_exit 2 transfer confirm 6f1c0c5e-4b8e-4c1a-9d57-0e4f3b1a2c10 vml1.AAAA --success --failure
expect_exit 2 transfer confirm 6f1c0c5e-4b8e-4c1a-9d57-0e4f3b1a2c10 '' --wait soon
expect_exit 2 transfer prepare 6f1c0c5e-4b8e-4c1a-9d57-0e4f3b1a2c10 'vml1.AA AA'
expect_exit 2 disk
expect_exit 2 disk frobnicate && expect_output "unknown disk command" "Try 'vmleasectl disk --help'"
expect_exit 2 disk attach 6f1c0c5e-4b8e-4c1a-9d57-0e4f3b1a2c10 && expect_output "attach without a key" "missing argument"
expect_exit 2 disk attach 6f1c0c5e-4b8e-4c1a-9d57-0e4f3b1a2c10 vol-1 --wait soon
expect_exit 2 disk attach 6f1c0c5e-4b8e-4c1a-9d57-0e4f3b1a2c10 vol-1 --shared
expect_exit 2 disk detach 6f1c0c5e-4b8e-4c1a-9d57-0e4f3b1a2c10
expect_exit 2 disk detach 6f1c0c5e-4b8e-4c1a-9d57-0e4f3b1a2c10 vol-1 --wait 5
expect_exit 2 disk list 6f1c0c5e-4b8e-4c1a-9d57-0e4f3b1a2c10 extra
expect_exit 2 acquire 6f1c0c5e-4b8e-4c1a-9d57-0e4f3b1a2c10 --disk
expect_exit 2 transfer perform 6f1c0c5e-4b8e-4c1a-9d57-0e4f3b1a2c10 vml1.AAAA --disk vol-1
expect_exit 2 migrate 6f1c0c5e-4b8e-4c1a-9d57-0e4f3b1a2c10 --to unix:path=/nonexistent/b
expect_exit 2 migrate 6f1c0c5e-4b8e-4c1a-9d57-0e4f3b1a2c10 --from /nonexistent/host1.env --to unix:path=/nonexistent/b
expect_exit 2 migrate 6f1c0c5e-4b8e-4c1a-9d57-0e4f3b1a2c10 --from unix:path=/nonexistent/a --to unix:path=/nonexistent/a
expect_exit 2 migrate 6f1c0c5e-4b8e-4c1a-9d57-0e4f3b1a2c10 --from unix:path=/nonexistent/a --to unix:path=/nonexistent/b --fail-at confirm
expect_exit 2 migrate 6f1c0c5e-4b8e-4c1a-9d57-0e4f3b1a2c10 --from unix:path=/nonexistent/a --to unix:path=/nonexistent/b --fail-at finish --postcopy
expect_exit 2 run -- true
expect_exit 2 run 6f1c0c5e-4b8e-4c1a-9d57-0e4f3b1a2c10 && expect_output "run without CMD" "no command to run"
expect_exit 2 run 6f1c0c5e-4b8e-4c1a-9d57-0e4f3b1a2c10 --
expect_exit 2 run 6f1c0c5e-4b8e-4c1a-9d57-0e4f3b1a2c10 --fence none -- true
expect_exit 2 run 6f1c0c5e-4b8e-4c1a-9d57-0e4f3b1a2c10 --qmp /run/vm.qmp -- true
expect_exit 2 run 6f1c0c5e-4b8e-4c1a-9d57-0e4f3b1a2c10 --wait soon -- true

# --- no bus: exit 3, whatever the command ------------------------------------

expect_exit 3 status && expect_output "status without a bus" "cannot connect to the system bus"
expect_exit 3 --json list
expect_exit 3 lockspace list
expect_exit 3 inquire 6f1c0c5e-4b8e-4c1a-9d57-0e4f3b1a2c10
expect_exit 3 --address unix:path=/nonexistent/other-bus monitor
expect_exit 3 transfer begin 6f1c0c5e-4b8e-4c1a-9d57-0e4f3b1a2c10
expect_exit 3 disk list
expect_exit 3 --json disk list 6f1c0c5e-4b8e-4c1a-9d57-0e4f3b1a2c10
expect_exit 3 disk attach 6f1c0c5e-4b8e-4c1a-9d57-0e4f3b1a2c10 vol-1 /dev/vg0/iso:shared
expect_exit 3 disk detach 6f1c0c5e-4b8e-4c1a-9d57-0e4f3b1a2c10 vol-1
expect_exit 3 acquire 6f1c0c5e-4b8e-4c1a-9d57-0e4f3b1a2c10 --disk vol-1 --disk vol-2:shared
expect_exit 3 transfer prepare 6f1c0c5e-4b8e-4c1a-9d57-0e4f3b1a2c10 vml1.AAAA --disk vol-1
expect_exit 3 transfer cancel 6f1c0c5e-4b8e-4c1a-9d57-0e4f3b1a2c10 ''
expect_exit 3 migrate 6f1c0c5e-4b8e-4c1a-9d57-0e4f3b1a2c10 --from unix:path=/nonexistent/a --to unix:path=/nonexistent/b \
    && expect_output "migrate without a bus" "finding the lease on the source"

# run fails with its own status (125), and CMD never runs.
ran=$(mktemp -u /tmp/vmlease-cli-help-ran.XXXXXX)
expect_exit 125 run 6f1c0c5e-4b8e-4c1a-9d57-0e4f3b1a2c10 -- touch "$ran" \
    && expect_output "run without a bus" "CMD was not started"
[ ! -e "$ran" ] || { fail "run without a bus ran CMD"; rm -f "$ran"; }

# --- the exit code table in the docs matches --help --------------------------

if [ -n "$DOCS" ]; then
    table=$(printf '%s\n' "$main_help" | sed -n '/^Exit status:/,/^$/s/^ *\([0-9][0-9]*\)  \([A-Za-z]*\) .*/\1 \2/p')
    [ -n "$table" ] || fail "no exit codes in vmleasectl --help"
    printf '%s\n' "$table" | {
        missing=0
        while read -r code name; do
            if [ -n "$name" ]; then
                row="| $code | \`$name\` |"
            else
                row="| $code | |"
            fi
            if ! grep -qF "$row" "$DOCS"; then
                echo "FAIL: $DOCS has no exit status row starting '$row'"
                missing=$((missing + 1))
            fi
        done
        exit "$missing"
    } && echo "ok: exit codes in $DOCS" || failures=$((failures + 1))
fi

if [ "$failures" -ne 0 ]; then
    echo "$failures check(s) failed"
    exit 1
fi
echo "all checks passed"
