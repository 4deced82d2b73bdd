/* vml-authority.c: see vml-authority.h.
 *
 * Interim rule until polkit is wired in: the "inquire" action is open to
 * everyone, every other action needs uid 0. The caller's uid comes from the
 * bus daemon (GetConnectionUnixUser), asked asynchronously and cached per
 * unique name: unique names are never reused on a bus, so a cached answer
 * cannot go stale. */
#include "config.h"

#include "vml-actions.h"
#include "vml-authority.h"
#include "vml-error.h"

#define UID_CACHE_MAX 1024

struct _VmlAuthority {
  GObject          parent_instance;
  GDBusConnection *bus;
  GHashTable      *uid_by_sender;  /* unique name → GUINT_TO_POINTER (uid + 1) */
};

G_DEFINE_TYPE (VmlAuthority, vml_authority, G_TYPE_OBJECT)

typedef struct {
  VmlAuthority          *self;
  GDBusMethodInvocation *invocation;
  GObject               *object;
  VmlAuthorizedFunc      func;
} CheckData;

static void
check_data_free (CheckData *data)
{
  g_object_unref (data->self);
  g_object_unref (data->invocation);
  g_object_unref (data->object);
  g_free (data);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CheckData, check_data_free)

static void
vml_authority_dispose (GObject *object)
{
  VmlAuthority *self = VML_AUTHORITY (object);

  g_clear_object (&self->bus);
  g_clear_pointer (&self->uid_by_sender, g_hash_table_unref);
  G_OBJECT_CLASS (vml_authority_parent_class)->dispose (object);
}

static void
vml_authority_class_init (VmlAuthorityClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = vml_authority_dispose;
}

static void
vml_authority_init (VmlAuthority *self)
{
  self->uid_by_sender = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
}

VmlAuthority *
vml_authority_new (GDBusConnection *bus)
{
  VmlAuthority *self = g_object_new (VML_TYPE_AUTHORITY, NULL);

  self->bus = g_object_ref (bus);
  return self;
}

static const char *
invocation_action (GDBusMethodInvocation *invocation)
{
  return vml_action_for_member (g_dbus_method_invocation_get_interface_name (invocation),
                                g_dbus_method_invocation_get_method_name (invocation));
}

static gboolean
action_allowed (const char *action, guint uid)
{
  if (g_str_equal (action, VML_ACTION_INQUIRE))
    return TRUE;
  return uid == 0;
}

static void
decide (CheckData *data, guint uid)
{
  const char *member = g_dbus_method_invocation_get_method_name (data->invocation);
  const char *action = invocation_action (data->invocation);

  if (action != NULL && action_allowed (action, uid))
    {
      data->func (data->object, data->invocation, uid);
      return;
    }
  if (action == NULL)
    g_dbus_method_invocation_return_error (data->invocation, VML_ERROR, VML_ERROR_NOT_AUTHORIZED,
                                           "%s is not a method anyone may call", member);
  else
    g_dbus_method_invocation_return_error (data->invocation, VML_ERROR, VML_ERROR_NOT_AUTHORIZED,
                                           "Not authorized to call %s (action %s): only root "
                                           "may change leases; you are uid %u",
                                           member, action, uid);
}

static void
on_unix_user (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(CheckData) data = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  guint uid;

  reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result, &error);
  if (reply == NULL)
    {
      /* Fail closed: without knowing who calls, nobody is authorized. */
      g_dbus_method_invocation_return_error (data->invocation, VML_ERROR, VML_ERROR_NOT_AUTHORIZED,
                                             "Could not tell who is calling: %s", error->message);
      return;
    }
  g_variant_get (reply, "(u)", &uid);
  if (g_hash_table_size (data->self->uid_by_sender) >= UID_CACHE_MAX)
    g_hash_table_remove_all (data->self->uid_by_sender);
  g_hash_table_insert (data->self->uid_by_sender,
                       g_strdup (g_dbus_method_invocation_get_sender (data->invocation)),
                       GUINT_TO_POINTER (uid + 1));
  decide (data, uid);
}

void
vml_authority_run_authorized (VmlAuthority          *self,
                              GDBusMethodInvocation *invocation,
                              GObject               *object,
                              VmlAuthorizedFunc      func)
{
  g_autoptr(CheckData) data = g_new0 (CheckData, 1);
  const char *sender = g_dbus_method_invocation_get_sender (invocation);
  gpointer cached;

  data->self = g_object_ref (self);
  data->invocation = g_object_ref (invocation);
  data->object = g_object_ref (object);
  data->func = func;

  cached = g_hash_table_lookup (self->uid_by_sender, sender);
  if (cached != NULL)
    {
      decide (data, GPOINTER_TO_UINT (cached) - 1);
      return;
    }
  g_dbus_connection_call (self->bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                          "org.freedesktop.DBus", "GetConnectionUnixUser",
                          g_variant_new ("(s)", sender), G_VARIANT_TYPE ("(u)"),
                          G_DBUS_CALL_FLAGS_NONE, -1, NULL, on_unix_user,
                          g_steal_pointer (&data));
}
