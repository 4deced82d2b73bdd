# SPDX-License-Identifier: LGPL-2.1-or-later
"""vmleasectl and disk leases against the real sandbox: `acquire --disk`,
`disk attach|detach|list` (text, --quiet, --json), the DISKS column of
`list`/`status`, Inquire's disk rows, `transfer prepare --disk`, and the
exit codes a script acts on: Busy (8) naming the disk, the VM lease holding
it and its host; InvalidArgument (5) for bad keys; NotHeld (9); NotFound (6);
usage (2). Every refused command is checked to have changed nothing."""

import json
import re
import uuid

from conftest import ctl, s

USAGE, INVALID, NOT_FOUND, BUSY, NOT_HELD = 2, 5, 6, 8, 9


def keyset(tag):
    """Keys of this test's own (disk leases outlive the VM leases that held
    them, in the lockspace's index, so no two tests may share a key)."""
    p = 'cli-%s-%s' % (tag, uuid.uuid4().hex[:8])
    return p + '-a', p + '/b@x', p + '-shared'


def names_host(message, host_id):
    return re.search(r'host\D{0,12}\b%d\b' % host_id, message, re.I) is not None


def disks_json(h, u=None):
    args = ['disk', 'list', '--json'] + ([u] if u else [])
    return json.loads(ctl(h, *args, check=0).stdout)['disks']


def disks_prop(h, u):
    return sorted(tuple(d) for d in h.lease_props(u)['Disks'])


def test_cli_acquire_attach_list_detach(hosts, leases):
    h1 = hosts[0]
    ka, kb, ks = keyset('ald')
    u = leases()
    h1.create(u, options={'name': s('vm-cli-disks')})

    ctl(h1, 'acquire', u, '--disk', ka, '--disk', ks + ':shared', check=0)
    assert disks_prop(h1, u) == sorted([(ka, 'exclusive'), (ks, 'shared')])

    # text: a KEY MODE table; --quiet: words that attach/detach take back
    out = ctl(h1, 'disk', 'list', u, check=0).stdout.splitlines()
    assert out[0].split() == ['KEY', 'MODE'], out
    assert sorted(line.split() for line in out[1:]) == sorted([[ka, 'exclusive'], [ks, 'shared']])
    quiet = ctl(h1, 'disk', 'list', u, '--quiet', check=0).stdout.split()
    assert sorted(quiet) == sorted([ka, ks + ':shared']), quiet
    assert sorted((d['uuid'], d['key'], d['mode']) for d in disks_json(h1, u)) == \
        sorted([(u, ka, 'exclusive'), (u, ks, 'shared')])
    # without a UUID: every lease held here, this one among them
    assert {(d['key'], d['mode']) for d in disks_json(h1) if d['uuid'] == u} == \
        {(ka, 'exclusive'), (ks, 'shared')}

    # hotplug, then hot-unplug with the word list --quiet printed
    ctl(h1, 'disk', 'attach', u, kb, check=0)
    assert disks_prop(h1, u) == sorted([(ka, 'exclusive'), (kb, 'exclusive'), (ks, 'shared')])
    ctl(h1, 'disk', 'attach', u, kb, check=0)          # same mode again: no-op
    assert len(disks_prop(h1, u)) == 3

    # list/status: the DISKS column; --json: disks as {key, mode}
    leases_json = json.loads(ctl(h1, 'list', '--json', check=0).stdout)['leases']
    mine = [x for x in leases_json if x['uuid'] == u]
    assert len(mine) == 1 and sorted((d['key'], d['mode']) for d in mine[0]['disks']) == \
        sorted([(ka, 'exclusive'), (kb, 'exclusive'), (ks, 'shared')]), mine
    row = [line for line in ctl(h1, 'list', check=0).stdout.splitlines() if u in line]
    assert len(row) == 1 and row[0].rstrip().endswith('3 (1 shared)'), row
    status = json.loads(ctl(h1, '--json', 'status', check=0).stdout)
    assert [len(x['disks']) for x in status['leases'] if x['uuid'] == u] == [3]

    # inquire: Inquire's disk entries, as rows and in JSON
    info = json.loads(ctl(h1, 'inquire', u, '--json', check=0).stdout)
    by_key = {d['key']: d for d in info['disks']}
    assert set(by_key) >= {ka, kb, ks}, info['disks']
    assert by_key[ka]['mode'] == 'exclusive' and by_key[ka]['owner'] == 1, by_key[ka]
    assert by_key[ks]['mode'] == 'shared' and 1 in by_key[ks]['shared_owners'], by_key[ks]
    text = ctl(h1, 'inquire', u, check=0).stdout
    rows = {line.split()[0]: line.split() for line in text.splitlines()
            if line.startswith('  ') and line.split()[0] in (ka, kb, ks)}
    assert set(rows) == {ka, kb, ks}, text
    assert rows[ks][1] == 'shared' and by_key[ks]['resource'] in rows[ks], text

    words = ctl(h1, 'disk', 'list', u, '--quiet', check=0).stdout.split()
    ctl(h1, 'disk', 'detach', u, *[w for w in words if w.startswith(kb)], check=0)
    assert disks_prop(h1, u) == sorted([(ka, 'exclusive'), (ks, 'shared')])
    # a mode suffix on detach is accepted and ignored
    ctl(h1, 'disk', 'detach', u, ks + ':shared', check=0)
    assert disks_prop(h1, u) == [(ka, 'exclusive')]
    # the VM lease stayed held throughout
    assert h1.lease_props(u)['State'] == 'held'
    ctl(h1, 'release', u, check=0)
    assert disks_prop(h1, u) == []
    assert ctl(h1, 'disk', 'list', u, check=0).stdout.startswith('No disk leases')


def test_cli_disk_errors_and_exit_codes(hosts, leases):
    h1, h2, h3 = hosts
    ka, kb, ks = keyset('err')
    u, v, w = leases(), leases(), leases()
    h1.create(u, options={'name': s('vm-cli-disks-1')})
    h2.create(v, options={'name': s('vm-cli-disks-2')})
    h3.create(w, options={'name': s('vm-cli-disks-3')})
    ctl(h1, 'acquire', u, '--disk', ka, '--disk', ks + ':shared', check=0)
    ctl(h2, 'acquire', v, check=0)

    # Busy (8): another VM lease holds the disk; the message names the
    # disk, that VM lease and its host; nothing changed
    r = ctl(h2, 'disk', 'attach', v, kb, ka, check=BUSY)
    assert ka in r.stderr and u in r.stderr and names_host(r.stderr, 1), r.stderr
    assert r.stderr.startswith('vmleasectl: ') and 'GDBus.Error' not in r.stderr, r.stderr
    assert disks_prop(h2, v) == []
    # exclusive while another VM shares it: Busy too
    r = ctl(h2, 'disk', 'attach', v, ks, check=BUSY)
    assert ks in r.stderr, r.stderr
    assert disks_prop(h2, v) == []
    # shared with a shared holder: fine, on another host
    ctl(h2, 'disk', 'attach', v, ks + ':shared', kb, check=0)
    assert disks_prop(h2, v) == sorted([(kb, 'exclusive'), (ks, 'shared')])

    # acquire --disk with a busy disk: all or nothing
    r = ctl(h3, 'acquire', w, '--disk', 'cli-free-' + uuid.uuid4().hex[:8], '--disk', kb,
            check=BUSY)
    assert kb in r.stderr and v in r.stderr, r.stderr
    assert h3.lease_props(w)['State'] != 'held'
    assert disks_prop(h3, w) == []
    # json: still nothing on stdout for a refusal, the message on stderr
    r = ctl(h3, '--json', 'acquire', w, '--disk', kb, check=BUSY)
    assert r.stdout == '' and kb in r.stderr

    # InvalidArgument (5): keys vmleased does not take
    for bad in ('bad key', 'k' * 257, 'semi;colon', ':shared', 'caf\u00e9'):
        ctl(h2, 'disk', 'attach', v, bad, check=INVALID)
    ctl(h2, 'disk', 'attach', v, ka + '-other', ka + '-other', check=INVALID)   # twice
    ctl(h2, 'disk', 'attach', v, kb + ':shared', check=INVALID)  # held, other mode
    ctl(h2, 'disk', 'detach', v, ka, check=INVALID)             # not held by v
    ctl(h3, 'acquire', w, '--disk', 'bad key', check=INVALID)
    assert disks_prop(h2, v) == sorted([(kb, 'exclusive'), (ks, 'shared')])
    assert h3.lease_props(w)['State'] != 'held'
    # a 256-byte key is a good one
    long_key = ('cli-long-%s-' % uuid.uuid4().hex[:8]).ljust(256, 'x')
    ctl(h2, 'disk', 'attach', v, long_key, check=0)
    ctl(h2, 'disk', 'detach', v, long_key, check=0)

    # NotHeld (9): the VM lease is not held here
    ctl(h3, 'disk', 'attach', w, 'cli-nh-' + uuid.uuid4().hex[:8], check=NOT_HELD)
    ctl(h3, 'disk', 'detach', w, kb, check=NOT_HELD)
    # NotFound (6): no such VM lease
    ctl(h1, 'disk', 'attach', str(uuid.uuid4()), kb, check=NOT_FOUND)
    ctl(h1, 'disk', 'list', str(uuid.uuid4()), check=NOT_FOUND)
    # usage (2): no key; an option another command has
    ctl(h1, 'disk', 'attach', u, check=USAGE)
    ctl(h1, 'disk', 'detach', u, ka, '--wait', '1', check=USAGE)

    # detach on one VM, attach on another
    ctl(h1, 'disk', 'detach', u, ka, check=0)
    ctl(h2, 'disk', 'attach', v, ka, check=0)
    assert (ka, 'exclusive') in disks_prop(h2, v)
    assert disks_prop(h1, u) == [(ks, 'shared')]


def test_cli_transfer_prepare_with_own_disk_set(hosts, leases):
    h1, h2 = hosts[0], hosts[1]
    ka, kb, ks = keyset('tp')
    u = leases()
    h1.create(u, options={'name': s('vm-cli-disks-mig')})
    ctl(h1, 'acquire', u, '--disk', ka, '--disk', ks + ':shared', check=0)
    h2.get_lease(u)

    # the destination brings kb instead of ka; the shared disk moves
    t1 = ctl(h1, 'transfer', 'begin', u, check=0).stdout.strip()
    t2 = ctl(h2, 'transfer', 'prepare', u, t1, '--disk', kb, '--disk', ks + ':shared',
             check=0).stdout.strip()
    t3 = ctl(h1, 'transfer', 'perform', u, t2, check=0).stdout.strip()
    t4 = ctl(h2, 'transfer', 'finish', u, t3, check=0).stdout.strip()
    ctl(h1, 'transfer', 'confirm', u, t4, check=0)
    assert disks_prop(h2, u) == sorted([(kb, 'exclusive'), (ks, 'shared')])
    assert disks_prop(h1, u) == []
    assert sorted(ctl(h2, 'disk', 'list', u, '--quiet', check=0).stdout.split()) == \
        sorted([kb, ks + ':shared'])
    # the source let ka go at confirm: any VM may take it now
    ctl(h2, 'disk', 'attach', u, ka, check=0)
    ctl(h2, 'release', u, check=0)
