/* vmlease-migration-private.h: VmleaseMigration's fields, shared by
 * vmlease-migration.c (the steps one by one) and
 * vmlease-migration-switchover.c (perform and finish side by side). */
#pragma once

#include "vmlease-private.h"

G_BEGIN_DECLS

struct _VmleaseMigration
{
  GObject parent_instance;

  VmleaseClient *source;
  VmleaseClient *destination;
  char *uuid;
  VmleaseLease *source_lease;           /* looked up at the first step there */
  VmleaseLease *destination_lease;
  VmleaseTransferStep step;             /* the last step done */
  char *token;                          /* what it returned */
};

/* @step answered @next (taken): the migration's step and token now. */
void _vmlease_migration_step_done (VmleaseMigration *self, VmleaseTransferStep step, char *next);

G_END_DECLS
