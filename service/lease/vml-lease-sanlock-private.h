/* vml-lease-sanlock-private.h: the fields of a lease's sanlock door and
 * what its two files share (vml-lease-sanlock.c, vml-lease-sanlock-disks.c). */
#pragma once

#include "vml-lease-sanlock.h"
#include "vml-sanlock.h"

struct _VmlLeaseSanlock {
  GMutex        cmd_lock;
  char         *uuid;
  VmlLockspace *lockspace;
  char         *path;
  guint64       offset;
  /* Disk resource name -> offset (guint64 *) in the index, once found: an
   * index entry of a disk is never deleted nor moved. Under offsets_lock. */
  GMutex        offsets_lock;
  GHashTable   *disk_offsets;
};

/* Who holds @res, from storage (sanlock's read of its owners). */
VmlLeaseOwners *lease_sanlock_read_owners_of (const VmlSanlockResource *res, GError **error);
