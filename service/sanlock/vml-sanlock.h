/* vml-sanlock.h: the only door from vmleased to libsanlock_client.
 *
 * vml-sanlock*.c are the only files that include sanlock's headers; what
 * they share among themselves is in vml-sanlock-private.h.
 *
 * Every function here may touch storage or wait on the sanlock daemon, so it
 * BLOCKS: call it from a worker thread (GTask), never from the main loop.
 * Every failure is a GError in VML_ERROR with a message a person can act on;
 * sanlock's own return code is appended as "(sanlock: <text>, <code>)".
 *
 * The daemon is found at $SANLOCK_RUN_DIR/sanlock.sock (default /run/sanlock).
 * libsanlock_client reads that variable ONCE per process, at its first
 * connection, and keeps the pointer getenv() returned: set it before the first
 * call; a later setenv() does not move a process to another daemon.
 *
 * On-storage layout of a lockspace that vmleased formats, from its offset:
 *   +0        lockspace (delta leases of up to 2000 hosts)    1 MiB
 *   +1 MiB    resource index (+ its internal paxos lease)      2 MiB
 *   +3 MiB    VM leases allocated from the index, 1 MiB each
 * All areas use 1 MiB alignment (SANLK_*_ALIGN1M) and the storage's sector
 * size: 512 bytes, or 4096 on storage whose logical sectors are larger than
 * 512 bytes (sanlock opens it with O_DIRECT, so it must never write less
 * than a logical sector). 1 MiB alignment leaves room for the host leases of
 * 2000 hosts with 512-byte sectors, 250 with 4096-byte ones (sanlock's
 * size_to_max_hosts()); the offsets above are the same for both.
 * Index capacity, fixed when formatting: as many 1 MiB leases as fit between
 * +3 MiB and the end of the device or file, at most 16000 (sanlock's limit for
 * one index with 1 MiB alignment, either sector size). A 1 GiB LUN at offset
 * 0 holds 1021 leases, a 64 MiB file 61. A regular file must be given its
 * size before formatting.
 */
#pragma once

#include <glib.h>
#include <sys/types.h>

G_BEGIN_DECLS

#define VML_SANLOCK_ALIGN        (1024 * 1024)
/* sanlock's SANLK_NAME_LEN is 48, but a 48-byte lockspace name runs into the
 * resource name when the daemon prints inquire strings ("%s" on a field
 * without NUL), so names are 1..47 bytes, without ':', '\\' or blanks. */
#define VML_SANLOCK_NAME_MAX     47
#define VML_SANLOCK_HOST_ID_MAX  2000
/* The sector sizes sanlock knows, and the host ids each leaves room for
 * with 1 MiB alignment. */
#define VML_SANLOCK_SECTOR_512   512
#define VML_SANLOCK_SECTOR_4K    4096
#define VML_SANLOCK_HOST_ID_MAX_4K 250

typedef struct {
  const char *name;       /* lockspace name, <= VML_SANLOCK_NAME_MAX bytes */
  guint64     host_id;    /* 1..2000 (1..250 with 4096-byte sectors); ignored by format */
  const char *path;
  guint64     offset;     /* multiple of VML_SANLOCK_ALIGN */
  guint       io_timeout; /* seconds; 0 = what is stored on disk / default */
  guint       sector_size; /* the storage's: 512 or 4096 (vml_sanlock_sector_size_for);
                            * 0 = not known (format: 512) */
} VmlSanlockLockspace;

typedef struct {
  const char *lockspace;  /* lockspace name */
  const char *name;       /* resource name (the VM uuid), <= VML_SANLOCK_NAME_MAX */
  const char *path;
  guint64     offset;
  guint       sector_size; /* for init and clear: 512 or 4096 (0 = 512); every other
                            * call finds the lease's own on storage */
} VmlSanlockResource;

/* One host as seen in a lockspace (sanlock_get_hosts). */
typedef struct {
  guint64 host_id;
  guint64 generation;
  guint64 timestamp;
  guint   io_timeout;
  enum {
    VML_HOST_UNKNOWN,
    VML_HOST_FREE,
    VML_HOST_LIVE,
    VML_HOST_FAIL,
    VML_HOST_DEAD,
  } state;
} VmlSanlockHost;

/* What storage says about one resource right now.
 * The exclusive owner is the paxos leader's owner while its timestamp is set;
 * shared holders are the hosts whose mode block says SHARED (a shared holder
 * is never the leader's owner, except for an instant while it is going SH). */
typedef struct {
  guint64  lver;              /* lease version */
  guint64  owner;             /* exclusive owner host id, 0 if none */
  guint64  owner_generation;  /* its generation, 0 if none */
  GArray  *shared_owners;     /* guint64 host ids holding it shared */
  gboolean owners_live;       /* an owner is alive: another host's acquire would fail */
  GArray  *live_hosts;        /* guint64 host ids whose host lease is LIVE or FAIL
                               * (empty in the first 2 × io_timeout after joining,
                               * before sanlock has looked; owners_live is then TRUE
                               * whenever there is an owner) */
} VmlSanlockOwners;

/* sanlock's client table. The daemon keeps each connection to it — a
 * registered process (every vmlease-holder), an event listener, a command
 * in progress — in a table of 1,024 entries (CLIENT_NALLOC in sanlock's
 * src/main.c), two of them its own (its listening socket, its helper). With
 * the table full it accepts a connection but never reads it: the call on
 * it waits forever, even after entries free up. So vmleased counts its own
 * connections and its holders' registrations here and never makes one that
 * would take the count past VML_SANLOCK_CLIENTS_MAX. Other programs'
 * clients on the host are not seen; they must fit in what vmleased's
 * ceiling on held leases leaves (docs/decisions.md, "Sanlock's client
 * table").
 *
 * Every command below takes one entry while it runs, and at most
 * VML_SANLOCK_COMMANDS_MAX run at once; clients that stay (holders,
 * listeners) may take every other entry but those, so a command (a
 * Release, an Inquire) always finds room, whatever number of leases is
 * held. A command that finds all of them in use waits for one of ours to
 * end, up to VML_SANLOCK_COMMAND_WAIT_S (commands end within their storage
 * timeouts), and then fails with BUSY. Nothing here ever waits on sanlock
 * for an entry. */
#define VML_SANLOCK_CLIENT_TABLE     1024
#define VML_SANLOCK_CLIENTS_MAX      (VML_SANLOCK_CLIENT_TABLE - 2)
#define VML_SANLOCK_COMMANDS_MAX     16
#define VML_SANLOCK_COMMAND_WAIT_S   10

/* Counts a client that stays connected, made outside this door: a holder
 * process about to register. FALSE with BUSY when only the commands'
 * entries are left (@what names the client in the message). Each reserve is paired with one
 * unreserve once the process is gone or told to go. */
gboolean vml_sanlock_clients_reserve      (const char *what, GError **error);
void     vml_sanlock_clients_unreserve    (void);
/* How many entries vmleased counts now (holders, listeners, commands). */
guint    vml_sanlock_clients_count        (void);

void     vml_sanlock_owners_free          (VmlSanlockOwners *owners);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VmlSanlockOwners, vml_sanlock_owners_free)

/* Whether the sanlock daemon (honouring SANLOCK_RUN_DIR) answers. */
gboolean vml_sanlock_ping                 (GError **error);

/* The sector size sanlock must use on storage whose logical sectors have
 * @logical_block_size bytes: 512 for 512 (and for 0: a regular file, or not
 * known), 4096 for anything larger up to 4096; 0 (unusable) above that. */
guint    vml_sanlock_sector_size_for      (guint logical_block_size);
/* The largest host id a lockspace with @sector_size-byte sectors has room
 * for: 2000 (512), 250 (4096). */
guint64  vml_sanlock_max_host_id          (guint sector_size);

/* Lockspaces. format writes the lockspace area with io_timeout (0 = the
 * daemon's default, 10 s) and sector_size (0 = 512), and an empty resource
 * index after it with the same sector size (destroys what was there; the
 * lockspace need not be joined; EXISTS if this host has a lockspace joined
 * at that location). join returns once the host lease is held (about 2 ×
 * io_timeout + 1 s); io_timeout 0 = the one stored on disk. Joining one that
 * is already joined with the same host id and location succeeds at once,
 * without storage I/O (vmleased restart); joined with another host id or
 * location -> EXISTS; host id used by another live host -> BUSY; nothing
 * formatted there -> NOT_FOUND; formatted with smaller sectors than the
 * storage's sector_size, or with another alignment than 1 MiB, or a host id
 * beyond what its sector size leaves room for -> INVALID_ARGUMENT (see
 * check). leave refuses with BUSY while processes on this host hold leases
 * in it (sanlock would kill them), and succeeds if not joined. */
gboolean vml_sanlock_format_lockspace     (const VmlSanlockLockspace *ls, GError **error);
/* *formatted_sector_size (may be NULL): the sector size join found the
 * lockspace formatted with; 0 when it was joined already and join did not
 * read storage. */
gboolean vml_sanlock_join_lockspace       (const VmlSanlockLockspace *ls,
                                           guint *formatted_sector_size, GError **error);
/* What the lockspace area at @ls's location says of itself, read through
 * the daemon in @ls->sector_size pieces (0: as sanlock guesses): the sector
 * size it was formatted with (*sector_size) and its io_timeout. Fails as
 * join would (NOT_FOUND: nothing formatted there; INVALID_ARGUMENT: another
 * lockspace's name, an alignment other than 1 MiB, or 512-byte sectors on
 * storage with larger ones, which sanlock cannot write there). */
gboolean vml_sanlock_check_lockspace      (const VmlSanlockLockspace *ls, guint *sector_size,
                                           guint *io_timeout, GError **error);
gboolean vml_sanlock_leave_lockspace      (const VmlSanlockLockspace *ls, GError **error);
/* TRUE if sanlock currently has this lockspace joined (any state). */
gboolean vml_sanlock_lockspace_is_joined  (const VmlSanlockLockspace *ls);
/* All hosts sanlock has seen in a joined lockspace; array of VmlSanlockHost.
 * Not joined -> LOCKSPACE_NOT_JOINED. sanlock knows the other hosts only from
 * its first renewal on (2 × io_timeout after joining); this waits up to 3 s
 * for that and then fails with FAILED ("try again shortly"). */
GArray  *vml_sanlock_get_hosts            (const char *lockspace, GError **error);

/* The resource index of a lockspace formatted by vml_sanlock_format_lockspace.
 * At most one index operation runs at a time per lockspace in sanlock (it
 * answers -EBUSY otherwise): the caller serializes them per lockspace.
 * They need the lockspace joined (LOCKSPACE_NOT_JOINED) and retry a few
 * seconds while the index is busy (then BUSY).
 * lookup: VML_ERROR_NOT_FOUND when no entry has that name.
 * create: looks up first and fails with EXISTS if the name is indexed already
 * (sanlock itself would index a duplicate; two hosts creating the same name
 * at the same instant can still both succeed). FAILED when the index is full.
 * delete: clears the index entry and the lease; res_offset 0 = wherever the
 * index says, otherwise it must match the index (INVALID_ARGUMENT). */
gboolean vml_sanlock_index_lookup         (const VmlSanlockLockspace *ls, const char *res_name,
                                           guint64 *res_offset, GError **error);
gboolean vml_sanlock_index_create         (const VmlSanlockLockspace *ls, const char *res_name,
                                           guint64 *res_offset, GError **error);
gboolean vml_sanlock_index_delete         (const VmlSanlockLockspace *ls, const char *res_name,
                                           guint64 res_offset, GError **error);

/* A resource at an explicit location. init formats it (destroys what was
 * there); read_name returns the lockspace and resource names found there, or
 * VML_ERROR_NOT_FOUND if the area holds no resource lease; clear wipes it. */
gboolean vml_sanlock_resource_init        (const VmlSanlockResource *res, GError **error);
gboolean vml_sanlock_resource_read_name   (const char *path, guint64 offset,
                                           char **lockspace, char **name, GError **error);
gboolean vml_sanlock_resource_clear       (const VmlSanlockResource *res, GError **error);

/* Fresh owners of a resource plus the lockspace's live hosts (reads the whole
 * 1 MiB lease area). Not joined -> LOCKSPACE_NOT_JOINED; no lease there ->
 * NOT_FOUND. */
VmlSanlockOwners *vml_sanlock_read_owners (const VmlSanlockResource *res, GError **error);

/* Pid-targeted operations on behalf of a registered holder process.
 * acquire: VML_ERROR_BUSY when another host holds it in a conflicting mode
 * (the message names the host ids); lver != 0 makes it fail with
 * VML_ERROR_BUSY ("taken meanwhile") unless the on-disk lver matches.
 * *lver_out (may be NULL) receives the lver now held (for a shared acquire:
 * the lver on disk right after it; every acquire, SH too, bumps it).
 * Other errors: EXISTS (this holder holds it already), BUSY also when another
 * process on this host holds it, FAILED "not registered" for an unknown
 * holder pid, LOCKSPACE_NOT_JOINED, NOT_FOUND (no lease at that location),
 * STORAGE_FAILURE.
 * release/convert: NOT_HELD when the holder does not hold it, or is not
 * registered with sanlock at all (a holder that exited holds nothing).
 * convert to exclusive: BUSY while another host holds it shared (message
 * names them). Converting to the mode already held succeeds.
 * Gotcha (sanlock): SH->EX succeeds even while another process on THIS host
 * holds the resource shared; callers must track local sharers themselves. */
gboolean vml_sanlock_acquire              (const VmlSanlockResource *res, pid_t holder,
                                           gboolean shared, guint64 lver, guint64 *lver_out,
                                           GError **error);
gboolean vml_sanlock_release              (const VmlSanlockResource *res, pid_t holder,
                                           GError **error);
gboolean vml_sanlock_convert              (const VmlSanlockResource *res, pid_t holder,
                                           gboolean to_shared, GError **error);
/* Which resources sanlock says this holder pid holds: sets *held and, when
 * held, *shared and *lver for the named resource (shared and lver may be
 * NULL). sanlock reports no lver for shared holds: *lver is then 0 (use
 * vml_sanlock_read_owners). A pid that is not registered with sanlock gives
 * *held = FALSE and no error. No storage I/O. */
gboolean vml_sanlock_inquire_holder       (pid_t holder, const char *res_name,
                                           gboolean *held, gboolean *shared, guint64 *lver,
                                           GError **error);

/* Whether @holder holds any lease at all (*any), whatever its name. */
gboolean vml_sanlock_holder_holds_any     (pid_t holder, gboolean *any, GError **error);

/* One resource a holder holds, as its sanlock daemon says. */
typedef struct {
  char     *lockspace;
  char     *name;
  char     *path;       /* its first (only) disk */
  guint64   offset;
  gboolean  shared;
  guint64   lver;       /* 0 for shared holds: sanlock reports none */
} VmlSanlockHeld;

void     vml_sanlock_held_free            (VmlSanlockHeld *held);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VmlSanlockHeld, vml_sanlock_held_free)

/* Everything @holder holds (of VmlSanlockHeld): what a restart of vmleased
 * trusts over its own records. Empty for a pid that is not registered with
 * this host's daemon (another daemon's client, or none). No storage I/O. */
GPtrArray *vml_sanlock_holder_resources   (pid_t holder, GError **error);

/* Asks the host that holds @res exclusively to give it up (sanlock_request).
 * This writes a request block on the lease and returns; this host flags the
 * owner's host at its next lockspace renewal, and the owner's daemon acts at
 * its own next renewal (renewals come every 2 × io_timeout, so it takes up
 * to about 4 × io_timeout + 1 s; measured 3.0-4.0 s with io_timeout 1).
 * An owner's host takes at most one such flag per requesting host per
 * 6 × io_timeout, and this host keeps a flag up for only 6 × io_timeout:
 * a second request to the same owner host soon after the first may lapse
 * before the owner's host takes it, and is then never heard. Request again
 * (same lver) every 4 × io_timeout until the owner lets go; measured 8 s
 * for a second request with io_timeout 1. The request is always graceful
 * (SANLK_REQ_GRACEFUL): the owner's daemon runs the holder's kill path
 * (vmlease-holder registers "vmlease-holder --revoke <pid> <start time>",
 * which sends that holder SIGTERM; it fences the VM and exits), and
 * sanlock releases the lease once the holder is gone, so the requester's
 * acquire succeeds within milliseconds. Never forced: SANLK_REQ_FORCE makes
 * the owner's daemon kill() the pid it recorded for the lease, and that is
 * 0 for a lease acquired shared and converted to exclusive (a migration's
 * destination): sanlock's own process group, the daemon included.
 * Nothing here acquires: the requester polls vml_sanlock_acquire, which
 * fails with BUSY until the owner let go.
 * lver: the version to request, the owner's lver + 1 (lver from
 * vml_sanlock_read_owners: safest when several hosts may request); 0 = the
 * lver on storage at that moment + 1 (SANLK_REQUEST_NEXT_LVER). An owner
 * holding a version >= the one requested ignores the request, so it never
 * hits a later holder, the requester itself included.
 * Errors: NOT_HELD when no host holds it exclusively (sanlock would accept
 * and do nothing: shared holders are never asked); INVALID_ARGUMENT when
 * this host is the owner (no daemon acts on it); BUSY when it changed hands
 * after lver was read (SANLK_REQUEST_OLD) or a request for a later version
 * is pending (SANLK_REQUEST_LVER); LOCKSPACE_NOT_JOINED, NOT_FOUND,
 * STORAGE_FAILURE. */
gboolean vml_sanlock_request              (const VmlSanlockResource *res, guint64 lver,
                                           GError **error);

/* Messages between the hosts of a lockspace (sanlock's host events): how a
 * host can tell another one something and say who it is, which a request
 * cannot (sanlock records no requester). sanlock carries them in the host
 * leases: a message goes out with this host's next renewals for
 * 6 × io_timeout, and the target reads it at each of its own renewals, so
 * it arrives after up to about 4 × io_timeout (measured 3-5 s with
 * io_timeout 1) and usually 2 or 3 times: receivers dedupe. One message at a
 * time per sending host and lockspace: sending another event value within
 * 6 × io_timeout fails with BUSY (sanlock would overwrite the first before
 * it was read); the same event value with other data silently replaces the
 * data, so put what identifies the message in @event. Best effort: a host
 * without a listener at that moment never sees it.
 *
 * open: a listener (file descriptor) for messages to this host in a joined
 * lockspace (else LOCKSPACE_NOT_JOINED; at most 32 per lockspace); poll it
 * for POLLIN and call read until it returns FALSE. read does not block and
 * does no storage I/O (main-loop safe): TRUE with *event filled, FALSE
 * without error when none is waiting, FALSE with FAILED when sanlock closed
 * the listener (lockspace left, daemon stopped, or it dropped a listener
 * that did not read: it never waits for one). close ends one (-1: none).
 * send: to host @host_id (1..2000), @generation 0 = any instance of it (the
 * receiver sees it as to_generation and must compare it with its own);
 * @event must not be 0. */
typedef struct {
  guint64 from_host_id;
  guint64 from_generation;
  guint64 to_generation;   /* as the sender gave it; 0 = any */
  guint64 event;
  guint64 data;
} VmlSanlockEvent;

/* Which daemon serves a listener: its pid (SO_PEERCRED of the listener)
 * and that process's start time, so that the end of a listener can tell a
 * daemon that died (and maybe was started again at once: the new one
 * knows none of our lockspaces) from one that only closed the listener.
 * daemon_of: FALSE if the listener cannot say (then assume nothing).
 * daemon_alive: whether that very process still runs (not a reused pid).
 * Neither blocks (main-loop safe). */
typedef struct {
  gint    pid;
  guint64 start_time;   /* /proc/<pid>/stat field 22, clock ticks after boot */
} VmlSanlockDaemonId;

gboolean vml_sanlock_event_daemon_of      (int fd, VmlSanlockDaemonId *id);
gboolean vml_sanlock_daemon_alive         (const VmlSanlockDaemonId *id);

int      vml_sanlock_event_open           (const char *lockspace, GError **error);
gboolean vml_sanlock_event_read           (int fd, VmlSanlockEvent *event, GError **error);
void     vml_sanlock_event_close          (int fd, const char *lockspace);
gboolean vml_sanlock_event_send           (const char *lockspace, guint64 host_id,
                                           guint64 generation, guint64 event, guint64 data,
                                           GError **error);

G_END_DECLS
