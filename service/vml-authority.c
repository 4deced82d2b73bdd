/* vml-authority.c: see vml-authority.h.
 *
 * Steps, all asynchronous: who calls (the bus daemon's GetConnectionUnixUser,
 * cached per unique name: unique names are never reused on a bus, so a
 * cached answer cannot go stale), which action applies (the table, and
 * whose lease it is), then polkit. Two answers skip polkit:
 *  - reads ("inquire") are open to everyone, like the properties;
 *  - uid 0: polkitd itself authorizes uid 0 for every action before it
 *    looks at any rule, so asking would only cost a round trip (about
 *    0.8 ms, on every Acquire and Release); systemd's services skip polkit
 *    for privileged callers the same way.
 * Anything that goes wrong fails closed: no answer from polkit is a no. */
#include "config.h"

#include <polkit/polkit.h>

#include "vml-actions.h"
#include "vml-authority.h"
#include "vml-error.h"

#define UID_CACHE_MAX 1024

struct _VmlAuthority {
  GObject          parent_instance;
  GDBusConnection *bus;
  GHashTable      *uid_by_sender;  /* unique name → GUINT_TO_POINTER (uid + 1) */
  PolkitAuthority *polkit;         /* once obtained */
};

G_DEFINE_TYPE (VmlAuthority, vml_authority, G_TYPE_OBJECT)

typedef struct {
  VmlAuthority          *self;
  GDBusMethodInvocation *invocation;
  GObject               *object;
  VmlAuthorizedFunc      func;
  const VmlActionRule   *rule;
  guint                  owner_uid;
  gboolean               seize;
  gboolean               fence_others;
  guint                  fence_uid;
  char                  *vm_uuid;
  char                  *vm_name;
  char                  *lockspace;
  guint                  uid;
  const char            *action;
} Check;

static void
check_free (Check *check)
{
  g_object_unref (check->self);
  g_object_unref (check->invocation);
  g_object_unref (check->object);
  g_free (check->vm_uuid);
  g_free (check->vm_name);
  g_free (check->lockspace);
  g_free (check);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Check, check_free)

static void
vml_authority_dispose (GObject *object)
{
  VmlAuthority *self = VML_AUTHORITY (object);

  g_clear_object (&self->polkit);
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

/* ---------------------------------------------------------------------- */
/* Answers                                                                */

static const char *
member_of (Check *check)
{
  return g_dbus_method_invocation_get_method_name (check->invocation);
}

/* "the lease of VM web-01 (8c1e…)" or "lockspace 'x'" or "" */
static char *
describe_target (Check *check)
{
  if (check->vm_uuid && check->vm_name && *check->vm_name)
    return g_strdup_printf (" the lease of VM %s (%s)", check->vm_name, check->vm_uuid);
  if (check->vm_uuid)
    return g_strdup_printf (" the lease of VM %s", check->vm_uuid);
  if (check->lockspace)
    return g_strdup_printf (" lockspace '%s'", check->lockspace);
  return g_strdup ("");
}

static void
deny (Check *check, const char *why)
{
  g_autofree char *what = describe_target (check);
  g_autofree char *whose = NULL;

  if (check->action == check->rule->action_on_others && check->action != NULL &&
      check->owner_uid != VML_UID_NONE)
    whose = g_strdup_printf ("; it was acquired by uid %u, and acting on another user's "
                             "lease needs this action", check->owner_uid);
  else if (check->fence_others)
    whose = g_strdup_printf ("; the fence target runs as uid %u, and naming a process the "
                             "caller could not signal itself needs this action",
                             check->fence_uid);
  g_message ("Denied %s by uid %u (action %s): %s", member_of (check), check->uid,
             check->action, why);
  g_dbus_method_invocation_return_error (check->invocation, VML_ERROR, VML_ERROR_NOT_AUTHORIZED,
                                         "Not authorized to %s%s (action %s): %s%s",
                                         member_of (check), what, check->action, why,
                                         whose ? whose : "");
}

static void
allow (Check *check)
{
  check->func (check->object, check->invocation, check->uid);
}

/* ---------------------------------------------------------------------- */
/* polkit                                                                 */

static gboolean
wants_interaction (Check *check)
{
  GDBusMessage *message = g_dbus_method_invocation_get_message (check->invocation);

  return (g_dbus_message_get_flags (message) &
          G_DBUS_MESSAGE_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION) != 0;
}

static PolkitDetails *
details_for (Check *check)
{
  PolkitDetails *details = polkit_details_new ();

  /* Shown by the agent: the messages in the .policy file use $(vm_name),
   * $(vm_uuid) and $(lockspace). */
  polkit_details_insert (details, "vm_uuid", check->vm_uuid ? check->vm_uuid : "");
  polkit_details_insert (details, "vm_name",
                         check->vm_name && *check->vm_name ? check->vm_name
                         : check->vm_uuid ? check->vm_uuid : "");
  polkit_details_insert (details, "lockspace", check->lockspace ? check->lockspace : "");
  return details;
}

static void
on_polkit_checked (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Check) check = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(PolkitAuthorizationResult) answer =
    polkit_authority_check_authorization_finish (POLKIT_AUTHORITY (source), result, &error);

  if (answer == NULL)
    {
      g_autofree char *why = g_strdup_printf ("polkit did not answer (%s), so the call is "
                                              "refused", error->message);
      deny (check, why);
    }
  else if (polkit_authorization_result_get_is_authorized (answer))
    allow (check);
  else if (polkit_authorization_result_get_is_challenge (answer))
    deny (check, wants_interaction (check)
                 ? "authentication is needed and was not given"
                 : "authentication is needed; call with interactive authorization allowed "
                   "(vmleasectl does) and run a polkit agent, e.g. pkttyagent");
  else
    deny (check, wants_interaction (check)
                 ? "polkit refused it (its rules, or the authentication agent was declined)"
                 : "polkit's rules refuse it");
}

static void
ask_polkit (Check *check)
{
  g_autoptr(PolkitSubject) subject =
    polkit_system_bus_name_new (g_dbus_method_invocation_get_sender (check->invocation));
  g_autoptr(PolkitDetails) details = details_for (check);
  PolkitAuthority *polkit = check->self->polkit;

  polkit_authority_check_authorization (polkit, subject, check->action, details,
                                        wants_interaction (check)
                                          ? POLKIT_CHECK_AUTHORIZATION_FLAGS_ALLOW_USER_INTERACTION
                                          : POLKIT_CHECK_AUTHORIZATION_FLAGS_NONE,
                                        NULL, on_polkit_checked, check);
}

static void
on_polkit_authority (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Check) check = user_data;
  g_autoptr(GError) error = NULL;
  PolkitAuthority *polkit = polkit_authority_get_finish (result, &error);

  if (polkit == NULL)
    {
      g_autofree char *why = g_strdup_printf ("polkit cannot be reached (%s), so the call is "
                                              "refused", error->message);
      deny (check, why);
      return;
    }
  if (check->self->polkit == NULL)
    check->self->polkit = polkit;
  else
    g_object_unref (polkit);
  ask_polkit (g_steal_pointer (&check));
}

/* ---------------------------------------------------------------------- */
/* Deciding                                                               */

static void
decide (Check *check)
{
  check->action = check->rule->action;
  if (check->seize)
    check->action = VML_ACTION_SEIZE;
  else if (check->fence_others)
    check->action = VML_ACTION_MANAGE;
  else if (check->rule->action_on_others != NULL && check->owner_uid != VML_UID_NONE &&
      check->owner_uid != check->uid)
    check->action = check->rule->action_on_others;

  if (g_str_equal (check->action, VML_ACTION_INQUIRE) || check->uid == 0)
    {
      allow (check);
      check_free (check);
    }
  else if (check->self->polkit != NULL)
    ask_polkit (check);
  else
    polkit_authority_get_async (NULL, on_polkit_authority, check);
}

static void
on_unix_user (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Check *check = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;

  reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result, &error);
  if (reply == NULL)
    {
      /* Fail closed: without knowing who calls, nobody is authorized. */
      g_dbus_method_invocation_return_error (check->invocation, VML_ERROR, VML_ERROR_NOT_AUTHORIZED,
                                             "Could not tell who is calling: %s", error->message);
      check_free (check);
      return;
    }
  g_variant_get (reply, "(u)", &check->uid);
  if (g_hash_table_size (check->self->uid_by_sender) >= UID_CACHE_MAX)
    g_hash_table_remove_all (check->self->uid_by_sender);
  g_hash_table_insert (check->self->uid_by_sender,
                       g_strdup (g_dbus_method_invocation_get_sender (check->invocation)),
                       GUINT_TO_POINTER (check->uid + 1));
  decide (check);
}

void
vml_authority_run_authorized (VmlAuthority          *self,
                              GDBusMethodInvocation *invocation,
                              GObject               *object,
                              const VmlAuthTarget   *target,
                              VmlAuthorizedFunc      func)
{
  const char *sender = g_dbus_method_invocation_get_sender (invocation);
  const VmlActionRule *rule =
    vml_action_rule_for (g_dbus_method_invocation_get_interface_name (invocation),
                         g_dbus_method_invocation_get_method_name (invocation));
  Check *check;
  gpointer cached;

  if (rule == NULL)
    {
      g_dbus_method_invocation_return_error (invocation, VML_ERROR, VML_ERROR_NOT_AUTHORIZED,
                                             "%s is not a method anyone may call",
                                             g_dbus_method_invocation_get_method_name (invocation));
      return;
    }
  check = g_new0 (Check, 1);
  check->self = g_object_ref (self);
  check->invocation = g_object_ref (invocation);
  check->object = g_object_ref (object);
  check->func = func;
  check->rule = rule;
  check->owner_uid = target ? target->owner_uid : VML_UID_NONE;
  check->seize = target ? target->seize : FALSE;
  check->fence_others = target ? target->fence_others : FALSE;
  check->fence_uid = target ? target->fence_uid : 0;
  check->vm_uuid = g_strdup (target ? target->vm_uuid : NULL);
  check->vm_name = g_strdup (target ? target->vm_name : NULL);
  check->lockspace = g_strdup (target ? target->lockspace : NULL);

  cached = g_hash_table_lookup (self->uid_by_sender, sender);
  if (cached != NULL)
    {
      check->uid = GPOINTER_TO_UINT (cached) - 1;
      decide (check);
      return;
    }
  g_dbus_connection_call (self->bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                          "org.freedesktop.DBus", "GetConnectionUnixUser",
                          g_variant_new ("(s)", sender), G_VARIANT_TYPE ("(u)"),
                          G_DBUS_CALL_FLAGS_NONE, -1, NULL, on_unix_user, check);
}
