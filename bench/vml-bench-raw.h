/* vml-bench-raw.h: what the benchmarks share about raw libsanlock: a
 * resource of the bench's own next to vmleased's leases, and sanlock's
 * return codes as a GError. */
#pragma once

#include <stdint.h>   /* before sanlock's headers */

#include <gio/gio.h>
#include <sanlock.h>
#include <sanlock_resource.h>

G_BEGIN_DECLS

#define MIB             (G_GUINT64_CONSTANT (1024) * 1024)

/* "<what>: <text> (<rv>)" in G_IO_ERROR; returns FALSE. */
gboolean               vml_bench_sanlock_failed (int rv, const char *what, GError **error);

/* Writes a resource @name of @lockspace at @path:@offset as vmleased writes
 * its leases (1 MiB aligned, 512-byte sectors); NULL on failure. */
struct sanlk_resource *vml_bench_raw_resource_new   (const char *lockspace, const char *name,
                                                     const char *path, guint64 offset,
                                                     GError **error);
/* Clears it on storage and frees it; NULL: nothing. */
void                   vml_bench_raw_resource_free  (struct sanlk_resource *res);

G_END_DECLS
