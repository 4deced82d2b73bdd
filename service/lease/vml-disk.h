/* vml-disk.h: a VM's disk leases as callers name them: the key and mode of
 * each disk (Acquire's and Transfer prepare's "disks" option,
 * AttachDisks), the checks on them, and the sanlock resource name a key is
 * hashed to. No storage, no sanlock: the lease layer does that. */
#pragma once

#include <gio/gio.h>

#include "vml-fence.h"   /* VmlMode */

G_BEGIN_DECLS

/* A key: 1..VML_DISK_KEY_MAX bytes of [A-Za-z0-9._:/@+-]. */
#define VML_DISK_KEY_MAX 256
/* Disks per VM lease. Each VML_DISKS_PER_HOLDER take one more holder
 * process against the host's ceiling on held leases, each disk one more
 * 1 MiB lease in the lockspace's index; 64 is more than any VM attaches
 * (virtio-blk and SCSI guests rarely pass a few dozen) and keeps one VM
 * from using more than 17 holders (docs/decisions.md "Disk leases"). */
#define VML_DISKS_MAX 64
/* Disks per holder process. sanlock takes at most 8 resources per client
 * (SANLK_MAX_RESOURCES), and one command per client at a time: a holder's
 * disks are acquired, converted and released one after the other, each an
 * exclusive acquire a paxos ballot (~12 ms with io_timeout 1). Holders work
 * side by side, so 4 each halves an 8-disk take for one more process
 * (bench/acquire --disks, docs/benchmarks.md). */
#define VML_DISKS_PER_HOLDER 4
/* "d" + 40 hex digits of the key's SHA-256: within sanlock's 47 usable
 * bytes, never a UUID (36 bytes) nor a marker ("x-"). */
#define VML_DISK_NAME_LEN 41

typedef struct {
  char    *key;
  VmlMode  mode;
  char    *name;     /* sanlock resource name */
} VmlDiskSpec;

void         vml_disk_spec_free    (VmlDiskSpec *spec);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VmlDiskSpec, vml_disk_spec_free)

gboolean     vml_disk_check_key    (const char *key, GError **error);
/* The sanlock resource name of @key (newly allocated). */
char        *vml_disk_resource_name (const char *key);
/* Mode names: "exclusive" (or "") and "shared". */
gboolean     vml_disk_mode_from_string (const char *str, VmlMode *mode, GError **error);
/* @disks (a(ss)): checked (keys, modes, no key twice, at most
 * VML_DISKS_MAX together with @already_held disks), as a GPtrArray of
 * VmlDiskSpec sorted by key. @method names the call in messages. */
GPtrArray   *vml_disks_parse       (GVariant *disks, guint already_held, const char *method,
                                    GError **error);
/* (ss) pairs of @specs (VmlDiskSpec), floating a(ss). */
GVariant    *vml_disks_to_variant  (GPtrArray *specs);

G_END_DECLS
