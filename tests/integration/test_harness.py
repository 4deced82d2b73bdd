"""The harness's own checks that need no sandbox: what counts as a
sanitizer or valgrind report, or a GLib critical, in a vmleased log (such a report fails the
session, see conftest.stop_sandbox)."""
from conftest import sanitizer_reports

ASAN = '''08:17:08.696 vmleased[13413] notice: [sandbox] 98d9: Lease deleted from storage
=================================================================
==13413==ERROR: AddressSanitizer: heap-use-after-free on address 0x602000000010
READ of size 8 at 0x602000000010 thread T0
'''
LSAN = '''==13413==ERROR: LeakSanitizer: detected memory leaks
Direct leak of 64 byte(s) in 1 object(s) allocated from:
'''
UBSAN = '''../service/common/vml-token.c:186:12: runtime error: load of misaligned address
'''
VALGRIND_BAD = '''==4242== Invalid read of size 4
==4242==    at 0x109161: main (leak.c:2)
==4242== ERROR SUMMARY: 3 errors from 1 contexts (suppressed: 0 from 0)
'''
# valgrind -q prints no ERROR SUMMARY, only the errors
VALGRIND_QUIET = '''==4243== Conditional jump or move depends on uninitialised value(s)
==4243== 64 bytes in 1 blocks are definitely lost in loss record 2 of 2
==4243== 32 bytes in 1 blocks are possibly lost in loss record 1 of 2
'''
# GLib's criticals: vmleased's own log line, and GLib's default handler
CRITICAL = '''21:43:42.219 vmleased[18288] critical: g_object_unref: assertion 'G_IS_OBJECT (object)' failed
(vmleased:77): GLib-GObject-CRITICAL **: 12:00:01.000: g_object_ref: assertion failed
'''
CLEAN = '''08:17:08.770 vmleased[13413] debug: Spare holder 31826 exited; replacing it
08:17:08.809 vmleased[13413] notice: Stopping; leases stay held by their holder processes
==4242== ERROR SUMMARY: 0 errors from 0 contexts (suppressed: 0 from 0)
08:17:09.001 vmleased[13414] warning: Cannot acquire: runtime is short (an error elsewhere)
'''


def test_sanitizer_and_valgrind_reports_are_found():
    assert sanitizer_reports(ASAN, 'h1') == [
        'h1: ==13413==ERROR: AddressSanitizer: heap-use-after-free on address 0x602000000010']
    assert sanitizer_reports(LSAN, 'h1') == ['h1: ==13413==ERROR: LeakSanitizer: '
                                             'detected memory leaks']
    assert sanitizer_reports(UBSAN, 'h2') == [
        'h2: ../service/common/vml-token.c:186:12: runtime error: load of misaligned address']
    assert sanitizer_reports(VALGRIND_BAD, 'h3') == [
        'h3: ==4242== Invalid read of size 4',
        'h3: ==4242== ERROR SUMMARY: 3 errors from 1 contexts (suppressed: 0 from 0)']
    assert sanitizer_reports(VALGRIND_QUIET, 'h3') == [
        'h3: ==4243== Conditional jump or move depends on uninitialised value(s)',
        'h3: ==4243== 64 bytes in 1 blocks are definitely lost in loss record 2 of 2']
    assert sanitizer_reports(CRITICAL, 'h1') == [
        "h1: 21:43:42.219 vmleased[18288] critical: g_object_unref: assertion "
        "'G_IS_OBJECT (object)' failed",
        'h1: (vmleased:77): GLib-GObject-CRITICAL **: 12:00:01.000: g_object_ref: '
        'assertion failed']


def test_clean_logs_have_no_reports():
    assert sanitizer_reports(CLEAN, 'h1') == []
    assert sanitizer_reports(CLEAN + ASAN + CLEAN, 'h1') != []
