#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""`meson install --destdir` puts every file where Debian looks for it.

Debian's daemons read fixed places: dbus-daemon the system.d policies under
/usr/share/dbus-1 and /etc/dbus-1 (not /usr/local), polkitd its actions
only from /usr/share/polkit-1/actions, and so on. So the layout is checked
for the configuration a real install uses (README: --prefix=/usr
--sysconfdir=/etc). If this build is configured that way, it is installed
as it is (--no-rebuild); otherwise (the default prefix is /usr/local) a
scratch build with --prefix=/usr --sysconfdir=/etc is set up, built and
installed, in a temporary directory.

Checks:
  - every file of the list below (and the client library's, in the
    multiarch library directory) is installed, at that path, and the
    programs are executable;
  - no file is installed anywhere else than in the directories that list
    names (plus the D-Bus interface XML): a file in a place that no Debian
    daemon reads fails here;
  - the installed unit's ExecStart= and the activation file's Exec= are the
    installed vmleased, the unit's name is the activation file's
    SystemdService=, and the directory of the unit is one of those that
    `systemd-analyze unit-paths` lists;
  - the installed vmleased's built-in defaults (--help) name the installed
    configuration file and holder.

Usage: test-install-layout.py SOURCE_ROOT BUILD_ROOT
"""

import json
import os
import stat
import sys
import tempfile

from vmltest_support import arguments, check, finish, read_ini, run

EXPECTED = {
    '/usr/sbin/vmleased': 'program',
    '/usr/libexec/vmlease-holder': 'program',
    '/usr/bin/vmleasectl': 'program',
    '/usr/lib/systemd/system/vmleased.service': 'file',
    '/usr/share/dbus-1/system-services/org.example.VMLease.service': 'file',
    '/usr/share/dbus-1/system.d/org.example.VMLease.conf': 'file',
    '/usr/share/polkit-1/actions/org.example.vmlease.policy': 'file',
    '/usr/share/polkit-1/rules.d/50-vmlease.rules': 'file',
    '/etc/vmlease/vmleased.conf': 'file',
    '/usr/share/man/man8/vmleased.8': 'file',
    '/usr/share/man/man1/vmleasectl.1': 'file',
    '/usr/share/man/man7/vmlease.7': 'file',
    '/usr/share/bash-completion/completions/vmleasectl': 'file',
}
# Where else a file may go: the D-Bus contract, read by nothing at run time;
# the client library's API reference (gi-docgen: one directory of pages).
ALSO_ALLOWED_DIRS = {'/usr/share/dbus-1/interfaces', '/usr/share/doc/Vmlease-1.0'}


def library_files():
    """libvmlease-1 (lib/): where the linker, pkg-config, the compiler and
    GObject introspection look on Debian: the multiarch library directory."""
    ma = run(['gcc', '-print-multiarch']).stdout.strip() or 'x86_64-linux-gnu'
    libdir = '/usr/lib/' + ma
    return {
        libdir + '/libvmlease-1.so.0': 'file',
        libdir + '/libvmlease-1.so': 'file',
        libdir + '/pkgconfig/vmlease-1.pc': 'file',
        libdir + '/girepository-1.0/Vmlease-1.0.typelib': 'file',
        '/usr/share/gir-1.0/Vmlease-1.0.gir': 'file',
        '/usr/include/vmlease-1/vmlease.h': 'file',
    }

def build_options(build_root):
    r = run(['meson', 'introspect', '--buildoptions', build_root])
    if r.returncode != 0:
        sys.exit('cannot read the build options of ' + build_root)
    return {o['name']: o['value'] for o in json.loads(r.stdout)}


def install(source_root, build_root, tmp):
    destdir = os.path.join(tmp, 'dest')
    opts = build_options(build_root)
    if opts.get('prefix') == '/usr' and opts.get('sysconfdir') in ('/etc', 'etc'):
        print('this build is configured for prefix /usr, sysconfdir /etc: installing it')
        r = run(['meson', 'install', '-C', build_root, '--no-rebuild', '--quiet',
                 '--destdir', destdir], timeout=120)
    else:
        print('this build has prefix %s, sysconfdir %s: installing a scratch build '
              'with --prefix=/usr --sysconfdir=/etc' % (opts.get('prefix'), opts.get('sysconfdir')))
        scratch = os.path.join(tmp, 'build')
        r = run(['meson', 'setup', scratch, source_root, '--prefix=/usr', '--sysconfdir=/etc',
                 '-Dbuildtype=plain', '-Dwerror=false'], timeout=120)
        if r.returncode == 0:
            r = run(['meson', 'install', '-C', scratch, '--quiet', '--destdir', destdir],
                    timeout=240)
    check(r.returncode == 0, 'meson install --destdir succeeded')
    if r.returncode != 0:
        finish()   # nothing installed to look at
    return destdir


def installed_files(destdir):
    out = set()
    for root, _, files in os.walk(destdir):
        for f in files:
            out.add('/' + os.path.relpath(os.path.join(root, f), destdir))
    return out


def main():
    source_root, build_root = (os.path.abspath(p) for p in arguments(2))
    with tempfile.TemporaryDirectory(prefix='vmlease-install-') as tmp:
        destdir = install(source_root, build_root, tmp)
        files = installed_files(destdir)
        expected = dict(EXPECTED, **library_files())

        for path, kind in expected.items():
            full = destdir + path
            ok = os.path.isfile(full)
            if ok and kind == 'program':
                ok = bool(os.stat(full).st_mode & stat.S_IXUSR)
            check(ok, 'installed %s%s' % (path, ' (executable)' if kind == 'program' else ''))

        allowed_dirs = {os.path.dirname(p) for p in expected} | ALSO_ALLOWED_DIRS
        stray = sorted(f for f in files if os.path.dirname(f) not in allowed_dirs)
        check(not stray, 'nothing installed where no Debian daemon looks%s'
              % (': ' + ', '.join(stray) if stray else ''))

        unit = destdir + '/usr/lib/systemd/system/vmleased.service'
        activation = destdir + '/usr/share/dbus-1/system-services/org.example.VMLease.service'
        if os.path.isfile(unit) and os.path.isfile(activation):
            service = read_ini(unit, 'Service')
            entry = read_ini(activation, 'D-BUS Service')
            check(service.get('ExecStart', '').split()[:1] == ['/usr/sbin/vmleased'],
                  'the unit runs /usr/sbin/vmleased: ExecStart=%s' % service.get('ExecStart'))
            check(entry.get('Exec', '').split()[:1] == ['/usr/sbin/vmleased'],
                  'the activation file runs /usr/sbin/vmleased: Exec=%s' % entry.get('Exec'))
            check(entry.get('SystemdService') == 'vmleased.service',
                  'the activation file names the unit: SystemdService=%s'
                  % entry.get('SystemdService'))

        r = run(['systemd-analyze', 'unit-paths'])
        paths = r.stdout.split()
        check('/usr/lib/systemd/system' in paths,
              'systemd reads units from /usr/lib/systemd/system (systemd-analyze unit-paths)')

        vmleased = destdir + '/usr/sbin/vmleased'
        if os.path.isfile(vmleased):
            r = run([vmleased, '--help'])
            check('(default /etc/vmlease/vmleased.conf)' in r.stdout,
                  'vmleased reads /etc/vmlease/vmleased.conf by default')
            check('(default /usr/libexec/vmlease-holder)' in r.stdout,
                  'vmleased starts /usr/libexec/vmlease-holder by default')
    finish()


if __name__ == '__main__':
    main()
