/* vml-error.h: the org.example.VMLease.Error domain, shared by vmleased and
 * vmleasectl so both sides agree on names and exit codes. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define VML_ERROR (vml_error_quark ())

/* Keep in step with vml-error.c's table and docs/errors.md. */
typedef enum {
  VML_ERROR_FAILED,
  VML_ERROR_NOT_AUTHORIZED,
  VML_ERROR_INVALID_ARGUMENT,
  VML_ERROR_NOT_FOUND,
  VML_ERROR_EXISTS,
  VML_ERROR_BUSY,
  VML_ERROR_NOT_HELD,
  VML_ERROR_WRONG_STEP,
  VML_ERROR_COMMITTED,
  VML_ERROR_STALE_TOKEN,
  VML_ERROR_LOCKSPACE_NOT_JOINED,
  VML_ERROR_STORAGE_FAILURE,
  VML_ERROR_N_ERRORS /*< skip >*/
} VmlError;

GQuark       vml_error_quark     (void);
const char  *vml_error_to_name   (VmlError code);

G_END_DECLS
