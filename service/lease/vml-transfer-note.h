/* vml-transfer-note.h: the source's word, on shared storage, for the begin
 * token of its latest hand-off of a lease.
 *
 * Each host signs its tokens with a key of its own, so a destination cannot
 * check the source's signature on a begin token: without more, anyone who
 * knows what Inquire shows could make one up and wedge a hand-off. So the
 * source writes a digest of the begin token it issues into the last 4 KiB
 * of the hand-off marker's 1 MiB area, which sanlock never uses (its paxos
 * lease takes the leader, the request and one sector per host: at most
 * 2002 sectors of 512 bytes, or 252 of 4096), and the destination's prepare
 * takes only the token whose digest is there. Only root on the hosts can
 * read the storage; the digest gives away nothing of the token.
 *
 * A disk lease's area carries a note at the same place: who took it last
 * (host id, VM lease UUID, mode), so that another host refused Busy can name
 * the VM lease holding the disk (sanlock's own sectors only know host ids).
 *
 * BLOCKS on storage (O_DIRECT where the file system has it): worker threads
 * only. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Records @begin_token (the text Transfer begin returns) as the latest for
 * the marker lease whose 1 MiB area starts at @area_offset of @path. */
gboolean vml_transfer_note_write   (const char  *path,
                                   guint64      area_offset,
                                   const char  *begin_token,
                                   GError     **error);

/* Whether @begin_token is the one last recorded there (*@matches FALSE also
 * when nothing, or something damaged, is recorded). */
gboolean vml_transfer_note_matches (const char  *path,
                                   guint64      area_offset,
                                   const char  *begin_token,
                                   gboolean    *matches,
                                   GError     **error);

/* The disk note: written by a host right after it took the disk lease whose
 * 1 MiB area starts at @area_offset; the last taker's word only (several
 * sharers overwrite each other: the reader checks the host against
 * storage's owners). read: FALSE without error and *@uuid NULL when no
 * valid note is there. */
gboolean vml_disk_note_write       (const char  *path,
                                   guint64      area_offset,
                                   guint64      host_id,
                                   const char  *uuid,
                                   gboolean     shared,
                                   GError     **error);
gboolean vml_disk_note_read        (const char  *path,
                                   guint64      area_offset,
                                   guint64     *host_id,
                                   char       **uuid,
                                   gboolean    *shared,
                                   GError     **error);

G_END_DECLS
