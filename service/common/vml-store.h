/* vml-store.h: small keyfile records under the state directory, one file per
 * object (lockspaces/<name>.conf, leases/<uuid>.lease), replaced atomically. */
#pragma once

#include <sys/types.h>
#include <glib-object.h>

G_BEGIN_DECLS

#define VML_STORE_FORMAT 1

#define VML_TYPE_STORE (vml_store_get_type ())
G_DECLARE_FINAL_TYPE (VmlStore, vml_store, VML, STORE, GObject)

typedef enum {
  VML_RECORD_LOCKSPACE,
  VML_RECORD_LEASE,
  VML_RECORD_NOTE,   /* notes/<uuid>.note, written by vmlease-holder */
} VmlRecordKind;

VmlStore  *vml_store_new        (const char *state_dir, GError **error);
const char *vml_store_get_dir   (VmlStore *self);

/* Writes @record (a "record" group with "format" is added) as @id. */
gboolean   vml_store_save       (VmlStore      *self,
                                 VmlRecordKind  kind,
                                 const char    *id,
                                 GKeyFile      *record,
                                 GError       **error);
gboolean   vml_store_remove     (VmlStore      *self,
                                 VmlRecordKind  kind,
                                 const char    *id,
                                 GError       **error);
/* All readable records of @kind, keyed by id. Unreadable, truncated or
 * future-format files are reported in the log and skipped, never fatal. */
GHashTable *vml_store_load_all  (VmlStore      *self,
                                 VmlRecordKind  kind);

/* Where holders leave their notes (vmlease-holder.c leave_note()): the
 * directory vmleased names to them in $VMLEASE_NOTES_DIR. */
char      *vml_store_notes_dir  (const char *state_dir);
/* The note holder @pid left for lease @uuid when it ended the lease itself
 * (it is removed once read): its exit status and whether it fenced the VM
 * process. FALSE when there is none from that pid. */
gboolean   vml_store_take_note  (VmlStore   *self,
                                 const char *uuid,
                                 pid_t       pid,
                                 int        *status,
                                 gboolean   *fenced);
/* Removes every note left for lease @uuid: at the start of a new hold
 * (Acquire, prepare) and at DeleteLease, the notes of earlier holds that
 * no report read (holders told to stop, or ending after the lease was
 * lost already) go. */
void       vml_store_drop_notes (VmlStore   *self,
                                 const char *uuid);

G_END_DECLS
