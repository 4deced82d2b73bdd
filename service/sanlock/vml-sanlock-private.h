/* vml-sanlock-private.h: what the vml-sanlock*.c files share, and nothing
 * else may use (it needs sanlock's headers, which only those files include).
 *
 *   vml-sanlock.c            error mapping, argument checks, ping
 *   vml-sanlock-lockspace.c  format, join, leave, hosts
 *   vml-sanlock-index.c      the resource index of a lockspace
 *   vml-sanlock-resource.c   leases at explicit locations, their owners
 *   vml-sanlock-lease.c      pid-targeted acquire/release/convert/inquire,
 *                            requests to another host's owner
 *   vml-sanlock-event.c      messages between the hosts of a lockspace
 */
#pragma once

#include <errno.h>
#include <stdint.h>   /* sanlock's headers use uint32_t without including it */

#include <glib.h>
#include <sanlock.h>
#include <sanlock_admin.h>
#include <sanlock_resource.h>

#include "vml-error.h"
#include "vml-sanlock.h"

G_BEGIN_DECLS

#define MIB                   (G_GUINT64_CONSTANT (1024) * 1024)
#define INDEX_AREA_OFFSET     (1 * MIB)   /* from the lockspace offset */
#define LEASES_AREA_OFFSET    (3 * MIB)   /* index (1 MiB) + its paxos lease (1 MiB) */
/* rindex.c size_to_max_resources(): the most entries an index with 1 MiB
 * alignment can hold, with 512- and 4096-byte sectors alike. */
#define INDEX_MAX_RESOURCES   16000

/* One resource with its single disk, laid out as sanlock expects. */
typedef struct {
  struct sanlk_resource res;
  struct sanlk_disk     disk;
} ResourceArgs;

G_STATIC_ASSERT (G_STRUCT_OFFSET (ResourceArgs, disk) == sizeof (struct sanlk_resource));

/* ---- vml-sanlock.c: errors ------------------------------------------- */

/* Sets @error to "<what> (sanlock: <text>, <rv>)"; returns FALSE.
 * VML_SANLOCK_NO_ROOM instead gives BUSY, "<what>: ..." saying why. */
gboolean    vml_sanlock_priv_fail               (GError **error, VmlError code, int rv,
                                                 const char *format, ...) G_GNUC_PRINTF (4, 5);
/* $SANLOCK_RUN_DIR, or sanlock's default. */
const char *vml_sanlock_priv_run_dir            (void);
/* Whether @rv means that the daemon is not there (it asks the daemon). */
gboolean    vml_sanlock_priv_daemon_unreachable (int rv);
/* The tail every mapping shares: daemon gone, storage trouble, or else.
 * @where names the area ("<path>:<offset>"), @path the file behind it. */
gboolean    vml_sanlock_priv_fail_common        (GError **error, int rv, const char *action,
                                                 const char *path, const char *where);

/* ---- vml-sanlock.c: sanlock's client table ---------------------------- */

/* What a libsanlock call that opens a connection answers in place of
 * sanlock when the table has no room (see vml-sanlock.h): sanlock itself
 * never returns -EUSERS, and vml_sanlock_priv_fail_common() maps it. */
#define VML_SANLOCK_NO_ROOM   (-EUSERS)

/* Wraps every libsanlock call that connects to the daemon: @call runs only
 * once an entry is counted for it, and the entry is given back after. */
#define VML_SANLOCK_CALL(call) \
  VML_SANLOCK_CALL_WAITING (VML_SANLOCK_COMMAND_WAIT_S * G_USEC_PER_SEC, call)
/* The same, waiting at most @wait_us for an entry (0 from the main loop). */
#define VML_SANLOCK_CALL_WAITING(wait_us, call)                               \
  (vml_sanlock_priv_command_begin (wait_us) ? vml_sanlock_priv_command_end ((call)) \
                                            : VML_SANLOCK_NO_ROOM)

gboolean    vml_sanlock_priv_command_begin      (gint64 wait_us);
/* Returns @rv, so that it can wrap the call's result. */
int         vml_sanlock_priv_command_end        (int rv);

/* ---- vml-sanlock.c: arguments ---------------------------------------- */

/* sanlock's sector and alignment flags for @sector_size (4096, else 512)
 * and 1 MiB alignment, for a lockspace, a resource, a resource index. */
uint32_t    vml_sanlock_priv_lsf_flags          (guint sector_size);
uint32_t    vml_sanlock_priv_res_flags          (guint sector_size);
uint32_t    vml_sanlock_priv_rif_flags          (guint sector_size);

gboolean    vml_sanlock_priv_copy_name          (char dst[SANLK_NAME_LEN], const char *name,
                                                 const char *kind, GError **error);
gboolean    vml_sanlock_priv_copy_disk          (struct sanlk_disk *disk, const char *path,
                                                 guint64 offset, GError **error);
gboolean    vml_sanlock_priv_lockspace_args     (const VmlSanlockLockspace *ls,
                                                 gboolean need_host_id,
                                                 struct sanlk_lockspace *lss, GError **error);
gboolean    vml_sanlock_priv_resource_args      (const VmlSanlockResource *res,
                                                 ResourceArgs *args, GError **error);
gboolean    vml_sanlock_priv_holder_arg         (pid_t holder, GError **error);
/* The index of @ls, which vml_sanlock_priv_lockspace_args() validated. */
void        vml_sanlock_priv_rindex_args        (const VmlSanlockLockspace *ls,
                                                 struct sanlk_rindex *rx);
/* "lease '<name>' of lockspace '<lockspace>'" */
char       *vml_sanlock_priv_describe_resource  (const VmlSanlockResource *res);
/* "<path>:<offset>" */
char       *vml_sanlock_priv_describe_location  (const char *path, guint64 offset);

/* ---- vml-sanlock-lockspace.c ----------------------------------------- */

/* Finds a lockspace this host has joined (or is joining or leaving), by
 * @name, or by location when @name is NULL; fills *found. */
gboolean    vml_sanlock_priv_find_joined_where  (const char *name, const char *path,
                                                 guint64 offset, struct sanlk_lockspace *found);
gboolean    vml_sanlock_priv_find_joined        (const char *name, struct sanlk_lockspace *found);
/* Whether this host joined @ls's lockspace at its location, whatever the
 * host id (index operations are given the lockspace without one). */
gboolean    vml_sanlock_priv_joined_any_host_id (const VmlSanlockLockspace *ls);
/* sanlock_get_hosts(), waiting up to @wait_us while the daemon has not yet
 * looked at the other hosts (-EAGAIN). *hosts is malloc()ed. */
int         vml_sanlock_priv_get_hosts_raw      (const char *lockspace, struct sanlk_host **hosts,
                                                 int *count, gint64 wait_us);

/* ---- vml-sanlock-resource.c ------------------------------------------ */

/* Maps what reading or writing the lease area at @path:@offset answered. */
gboolean    vml_sanlock_priv_fail_resource_area (const char *path, guint64 offset,
                                                 const char *action, int rv, GError **error);

G_END_DECLS
