/* vml-storage-block.h: what the kernel says about the block device under
 * a path (its logical sector size), for choosing sanlock's sector flags. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The logical sector size of the block device at @path (a partition's is
 * its disk's), read from sysfs: 512 or 4096 in practice; 0 if @path is not
 * a block device (e.g. a regular file) or sysfs does not say. Joining a
 * lockspace formats it with sanlock's 4K sector flags where this is more
 * than 512 (vml-lockspace.c). Any thread. */
guint vml_storage_logical_block_size (const char *path);

G_END_DECLS
