/* vml-error.c: registers the org.example.VMLease.Error.* names with GDBus, so
 * a GError raised in vmleased arrives in a client as the same domain/code. */
#include "vml-error.h"

static const GDBusErrorEntry vml_error_entries[] = {
  { VML_ERROR_FAILED,               "org.example.VMLease.Error.Failed" },
  { VML_ERROR_NOT_AUTHORIZED,       "org.example.VMLease.Error.NotAuthorized" },
  { VML_ERROR_INVALID_ARGUMENT,     "org.example.VMLease.Error.InvalidArgument" },
  { VML_ERROR_NOT_FOUND,            "org.example.VMLease.Error.NotFound" },
  { VML_ERROR_EXISTS,               "org.example.VMLease.Error.Exists" },
  { VML_ERROR_BUSY,                 "org.example.VMLease.Error.Busy" },
  { VML_ERROR_NOT_HELD,             "org.example.VMLease.Error.NotHeld" },
  { VML_ERROR_WRONG_STEP,           "org.example.VMLease.Error.WrongStep" },
  { VML_ERROR_COMMITTED,            "org.example.VMLease.Error.Committed" },
  { VML_ERROR_STALE_TOKEN,          "org.example.VMLease.Error.StaleToken" },
  { VML_ERROR_LOCKSPACE_NOT_JOINED, "org.example.VMLease.Error.LockspaceNotJoined" },
  { VML_ERROR_STORAGE_FAILURE,      "org.example.VMLease.Error.StorageFailure" },
};

/* Every enum value must have exactly one entry, in enum order. */
G_STATIC_ASSERT (G_N_ELEMENTS (vml_error_entries) == VML_ERROR_N_ERRORS);

GQuark
vml_error_quark (void)
{
  static gsize quark = 0;

  g_dbus_error_register_error_domain ("vml-error-quark",
                                      &quark,
                                      vml_error_entries,
                                      G_N_ELEMENTS (vml_error_entries));
  return (GQuark) quark;
}

const char *
vml_error_to_name (VmlError code)
{
  g_return_val_if_fail (code < VML_ERROR_N_ERRORS, NULL);
  g_return_val_if_fail (vml_error_entries[code].error_code == (gint) code, NULL);

  /* The part after the last dot, e.g. "Busy". */
  return strrchr (vml_error_entries[code].dbus_error_name, '.') + 1;
}
