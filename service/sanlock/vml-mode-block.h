/* vml-mode-block.h: one host's shared-mode record of a sanlock lease, read
 * straight from storage.
 *
 * A hand-off's source must know, right before it lets go, that the
 * destination holds the lease shared. sanlock_read_resource_owners answers
 * that by reading the lease's whole area (1 MiB) through the daemon, about
 * 2.5 ms inside the migration's blackout; the answer lives in one sector.
 * BLOCKS on storage: call it from a worker thread.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
  guint64  lver;        /* the lease version in the leader record */
  gboolean shared;      /* the host holds the lease shared */
  guint64  generation;  /* the host's lockspace generation when it took it */
} VmlModeBlock;

/* Reads the leader record of the lease @resource_name at @lease_offset of
 * @path and the mode block of @host_id, with the sector size the leader
 * names; fails if the leader is not that lease's. */
gboolean vml_mode_block_read (const char   *path,
                              guint64       lease_offset,
                              const char   *resource_name,
                              guint64       host_id,
                              VmlModeBlock *block,
                              GError      **error);

/* Whether the sector at @lease_offset of @path could be read and holds no
 * sanlock leader record at all (never written, or wiped): FALSE when it
 * holds one, or when it cannot be read. */
gboolean vml_mode_block_no_leader (const char *path,
                                   guint64     lease_offset);

G_END_DECLS
