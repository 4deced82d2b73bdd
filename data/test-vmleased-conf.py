#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Check the shipped data/vmleased.conf with GLib's own GKeyFile parser.

The file as shipped must parse and set nothing (every group is commented
out). Its commented example, uncommented, must parse too and name exactly the
groups and keys that docs/sandbox.md documents, with values of the right type.

Usage: test-vmleased-conf.py VMLEASED_CONF
"""

import re

import gi
gi.require_version('GLib', '2.0')
from gi.repository import GLib  # noqa: E402

from vmltest_support import arguments, check, finish  # noqa: E402

EXAMPLE_LINE = re.compile(r'^# (\[[^\]]+\]|[a-z_]+=.*)$')


def parse(text):
    kf = GLib.KeyFile()
    kf.load_from_data(text, len(text.encode()), GLib.KeyFileFlags.NONE)
    return kf


def main():
    text = open(arguments(1)[0], encoding='utf-8').read()

    shipped = parse(text)
    check(shipped.get_groups()[0] == [], 'as shipped the file sets nothing')

    example = '\n'.join(m.group(1) for m in map(EXAMPLE_LINE.match, text.splitlines()) if m)
    kf = parse(example + '\n')
    groups = kf.get_groups()[0]
    check(groups == ['daemon', 'lockspace vmstore1'],
          'the example has [daemon] and one [lockspace NAME] group: %s' % groups)
    check(kf.get_keys('daemon')[0] == ['state_dir', 'max_leases'],
          '[daemon] has state_dir and max_leases')
    check(kf.get_string('daemon', 'state_dir') == '/run/vmleased',
          'state_dir defaults to /run/vmleased')
    check(kf.get_uint64('daemon', 'max_leases') == 900, 'max_leases defaults to 900')
    ls = 'lockspace vmstore1'
    check(sorted(kf.get_keys(ls)[0]) == ['host_id', 'io_timeout', 'offset', 'path'],
          '[lockspace NAME] has host_id, path, offset, io_timeout')
    check(1 <= kf.get_uint64(ls, 'host_id') <= 2000, 'host_id is 1..2000')
    check(kf.get_string(ls, 'path').startswith('/'), 'path is absolute')
    check(kf.get_uint64(ls, 'offset') == 0, 'offset is an integer')
    check(kf.get_uint64(ls, 'io_timeout') == 10, 'io_timeout is an integer (10)')
    finish()


if __name__ == '__main__':
    main()
