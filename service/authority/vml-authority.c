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
 * Anything that goes wrong fails closed: no answer from polkit is a no, and
 * so is an answer that takes longer than VML_POLKIT_TIMEOUT_S.
 *
 * Each call is followed until its invocation is freed (its reply sent):
 *  - a GCancellable, cancelled when the caller's unique name leaves the bus
 *    (one NameOwnerChanged subscription for all): work for a caller who left
 *    is never started, and a wait on its behalf ends. Not for a call sent
 *    with NO_REPLY_EXPECTED: its caller asked for the work, not an answer,
 *    and may well leave at once;
 *  - how many calls each uid other than 0 has in flight: beyond
 *    VML_CALLS_IN_FLIGHT_MAX the call is answered Busy, so that one user's
 *    flood of reads (open to everyone) cannot queue up without bound.
 * Invocations may be freed in worker threads (with a GTask's data), hence
 * the lock. */
#include "config.h"

#include <polkit/polkit.h>

#include "vml-actions.h"
#include "vml-authority.h"
#include "vml-error.h"
#include "vml-log.h"

#define UID_CACHE_MAX 1024

struct _VmlAuthority {
  GObject          parent_instance;
  GDBusConnection *bus;
  GHashTable      *uid_by_sender;  /* unique name → GUINT_TO_POINTER (uid + 1) */
  PolkitAuthority *polkit;         /* once obtained */
  guint            name_owner_sub;
  GMutex           lock;           /* the two tables below */
  GHashTable      *calls_by_sender; /* unique name → GPtrArray of Call (not owned) */
  GHashTable      *in_flight_by_uid; /* GUINT_TO_POINTER (uid) → count */
};

/* What is known about one call while it is in flight: attached to its
 * invocation, freed with it. */
typedef struct {
  VmlAuthority *self;
  char         *sender;
  GCancellable *cancellable;   /* cancelled when the sender leaves the bus */
  gboolean      no_reply;      /* NO_REPLY_EXPECTED: done even if it leaves */
  guint         uid;
  gboolean      counted;       /* in in_flight_by_uid */
} Call;

#define CALL_KEY "vml-authority-call"

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
  Call                  *call;           /* the invocation's (not owned) */
  GCancellable          *polkit_cancel;  /* ends the polkit request */
  gulong                 left_handler;   /* on call->cancellable */
  guint                  timeout_id;
  gboolean               timed_out;
} Check;

static void
check_free (Check *check)
{
  if (check->timeout_id != 0)
    g_source_remove (check->timeout_id);
  g_cancellable_disconnect (check->call->cancellable, check->left_handler);
  g_clear_object (&check->polkit_cancel);
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

  if (self->name_owner_sub != 0)
    g_dbus_connection_signal_unsubscribe (self->bus, self->name_owner_sub);
  self->name_owner_sub = 0;
  g_clear_object (&self->polkit);
  g_clear_object (&self->bus);
  g_clear_pointer (&self->uid_by_sender, g_hash_table_unref);
  G_OBJECT_CLASS (vml_authority_parent_class)->dispose (object);
}

static void
vml_authority_finalize (GObject *object)
{
  VmlAuthority *self = VML_AUTHORITY (object);

  g_hash_table_unref (self->calls_by_sender);
  g_hash_table_unref (self->in_flight_by_uid);
  g_mutex_clear (&self->lock);
  G_OBJECT_CLASS (vml_authority_parent_class)->finalize (object);
}

static void
vml_authority_class_init (VmlAuthorityClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = vml_authority_dispose;
  G_OBJECT_CLASS (klass)->finalize = vml_authority_finalize;
}

static void
vml_authority_init (VmlAuthority *self)
{
  self->uid_by_sender = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_mutex_init (&self->lock);
  self->calls_by_sender = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                                 (GDestroyNotify) g_ptr_array_unref);
  self->in_flight_by_uid = g_hash_table_new (NULL, NULL);
}

/* ---------------------------------------------------------------------- */
/* Calls in flight                                                        */

/* The bus says a unique name is gone: cancel its calls' cancellables (out
 * of the lock: cancelling runs handlers) and forget its uid. */
static void
on_name_owner_changed (GDBusConnection *bus, const char *sender, const char *path,
                       const char *iface, const char *member, GVariant *params,
                       gpointer user_data)
{
  VmlAuthority *self = VML_AUTHORITY (user_data);
  g_autoptr(GPtrArray) gone = g_ptr_array_new_with_free_func (g_object_unref);
  const char *name, *old_owner, *new_owner;
  GPtrArray *calls;

  g_variant_get (params, "(&s&s&s)", &name, &old_owner, &new_owner);
  if (name[0] != ':' || new_owner[0] != '\0')
    return;
  g_hash_table_remove (self->uid_by_sender, name);
  g_mutex_lock (&self->lock);
  calls = g_hash_table_lookup (self->calls_by_sender, name);
  for (guint i = 0; calls != NULL && i < calls->len; i++)
    {
      Call *call = calls->pdata[i];

      if (!call->no_reply)
        g_ptr_array_add (gone, g_object_ref (call->cancellable));
    }
  g_mutex_unlock (&self->lock);
  for (guint i = 0; i < gone->len; i++)
    g_cancellable_cancel (gone->pdata[i]);
}

VmlAuthority *
vml_authority_new (GDBusConnection *bus)
{
  VmlAuthority *self = g_object_new (VML_TYPE_AUTHORITY, NULL);

  self->bus = g_object_ref (bus);
  self->name_owner_sub =
    g_dbus_connection_signal_subscribe (bus, "org.freedesktop.DBus", "org.freedesktop.DBus",
                                        "NameOwnerChanged", "/org/freedesktop/DBus", NULL,
                                        G_DBUS_SIGNAL_FLAGS_NONE, on_name_owner_changed,
                                        self, NULL);
  return self;
}

static void
call_free (Call *call)
{
  VmlAuthority *self = call->self;
  GPtrArray *calls;

  g_mutex_lock (&self->lock);
  calls = g_hash_table_lookup (self->calls_by_sender, call->sender);
  g_ptr_array_remove_fast (calls, call);
  if (calls->len == 0)
    g_hash_table_remove (self->calls_by_sender, call->sender);
  if (call->counted)
    {
      gpointer key = GUINT_TO_POINTER (call->uid);
      guint n = GPOINTER_TO_UINT (g_hash_table_lookup (self->in_flight_by_uid, key));

      if (n <= 1)
        g_hash_table_remove (self->in_flight_by_uid, key);
      else
        g_hash_table_insert (self->in_flight_by_uid, key, GUINT_TO_POINTER (n - 1));
    }
  g_mutex_unlock (&self->lock);
  g_object_unref (call->cancellable);
  g_free (call->sender);
  g_object_unref (self);
  g_free (call);
}

/* Registered when the call arrives: the NameOwnerChanged of a sender that
 * leaves comes after its calls on our connection, so none is missed. */
static Call *
call_track (VmlAuthority *self, GDBusMethodInvocation *invocation)
{
  Call *call = g_object_get_data (G_OBJECT (invocation), CALL_KEY);
  GPtrArray *calls;

  /* Asked about a second time (a fence target of another uid needs .manage
   * too): the same call, tracked and counted once. */
  if (call != NULL)
    return call;
  call = g_new0 (Call, 1);

  call->self = g_object_ref (self);
  call->sender = g_strdup (g_dbus_method_invocation_get_sender (invocation));
  call->cancellable = g_cancellable_new ();
  call->no_reply = (g_dbus_message_get_flags (g_dbus_method_invocation_get_message (invocation)) &
                    G_DBUS_MESSAGE_FLAGS_NO_REPLY_EXPECTED) != 0;
  g_mutex_lock (&self->lock);
  calls = g_hash_table_lookup (self->calls_by_sender, call->sender);
  if (calls == NULL)
    {
      calls = g_ptr_array_new ();
      g_hash_table_insert (self->calls_by_sender, g_strdup (call->sender), calls);
    }
  g_ptr_array_add (calls, call);
  g_mutex_unlock (&self->lock);
  g_object_set_data_full (G_OBJECT (invocation), CALL_KEY, call, (GDestroyNotify) call_free);
  return call;
}

/* Counts @call against its uid; FALSE if that uid has too many in flight.
 * uid 0 is not limited (it may do anything anyway). */
static gboolean
call_count (VmlAuthority *self, Call *call, guint uid)
{
  gpointer key = GUINT_TO_POINTER (uid);
  guint n;

  call->uid = uid;
  if (uid == 0 || call->counted)
    return TRUE;
  g_mutex_lock (&self->lock);
  n = GPOINTER_TO_UINT (g_hash_table_lookup (self->in_flight_by_uid, key));
  call->counted = n < VML_CALLS_IN_FLIGHT_MAX;
  if (call->counted)
    g_hash_table_insert (self->in_flight_by_uid, key, GUINT_TO_POINTER (n + 1));
  g_mutex_unlock (&self->lock);
  return call->counted;
}

GCancellable *
vml_authority_call_cancellable (GDBusMethodInvocation *invocation)
{
  Call *call = g_object_get_data (G_OBJECT (invocation), CALL_KEY);

  return call ? call->cancellable : NULL;
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

/* A message about @check's call: its caller's uid, and the lease or
 * lockspace it names; @msgid may be NULL; then a format and its
 * arguments. */
#define log_check(check, msgid, ...)                                          \
  vml_log (G_LOG_LEVEL_MESSAGE, &(VmlLogAbout) {                              \
             .uuid = (check)->vm_uuid, .lockspace = (check)->lockspace,       \
             .caller_uid = (check)->uid, .has_caller = TRUE,                  \
             .message_id = (msgid),                                           \
           }, __VA_ARGS__)

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
  log_check (check, VML_MSGID_CALL_REFUSED, "Denied %s by uid %u (action %s): %s",
             member_of (check), check->uid, check->action, why);
  g_dbus_method_invocation_return_error (check->invocation, VML_ERROR, VML_ERROR_NOT_AUTHORIZED,
                                         "Not authorized to %s%s (action %s): %s%s",
                                         member_of (check), what, check->action, why,
                                         whose ? whose : "");
}

static gboolean
caller_left (Check *check)
{
  if (!g_cancellable_is_cancelled (check->call->cancellable))
    return FALSE;
  log_check (check, NULL,
             "%s by uid %u not run: its caller %s left the bus before it was authorized",
             member_of (check), check->uid, check->call->sender);
  /* Nobody reads it; answered so the invocation ends like any other. */
  g_dbus_method_invocation_return_error (check->invocation, VML_ERROR, VML_ERROR_FAILED,
                                         "the caller left the bus");
  return TRUE;
}

static void
allow (Check *check)
{
  if (!caller_left (check))
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

  if (caller_left (check))
    return;
  if (answer == NULL && check->timed_out)
    deny (check, "polkit did not answer: the check timed out after "
                 G_STRINGIFY (VML_POLKIT_TIMEOUT_S) " s, so the call is refused");
  else if (answer == NULL)
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
                                        check->polkit_cancel, on_polkit_checked, check);
}

static void
on_polkit_authority (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Check) check = user_data;
  g_autoptr(GError) error = NULL;
  PolkitAuthority *polkit = polkit_authority_get_finish (result, &error);

  if (polkit == NULL && !caller_left (check))
    {
      g_autofree char *why = check->timed_out
        ? g_strdup ("polkit cannot be reached: the check timed out after "
                    G_STRINGIFY (VML_POLKIT_TIMEOUT_S) " s, so the call is refused")
        : g_strdup_printf ("polkit cannot be reached (%s), so the call is refused",
                           error->message);
      deny (check, why);
      return;
    }
  if (polkit == NULL)
    return;
  if (check->self->polkit == NULL)
    check->self->polkit = polkit;
  else
    g_object_unref (polkit);
  ask_polkit (g_steal_pointer (&check));
}

/* polkit has had its time: cancelling makes its callback come (with an
 * error), and that answers the call. */
static gboolean
on_polkit_timeout (gpointer user_data)
{
  Check *check = user_data;

  check->timeout_id = 0;
  check->timed_out = TRUE;
  /* Not the refusal's message yet: deny() logs that when polkit's
   * callback comes. */
  log_check (check, NULL, "polkit did not answer within %d s about %s by uid %u; refusing it",
             VML_POLKIT_TIMEOUT_S, member_of (check), check->uid);
  g_cancellable_cancel (check->polkit_cancel);
  return G_SOURCE_REMOVE;
}

static void
on_caller_left (GCancellable *call_cancellable, gpointer user_data)
{
  g_cancellable_cancel (G_CANCELLABLE (user_data));
}

/* The polkit request (and getting polkit's proxy first, which asks polkitd
 * too) ends when polkit answers, when the caller leaves the bus, or after
 * VML_POLKIT_TIMEOUT_S. */
static void
ask_polkit_bounded (Check *check)
{
  check->polkit_cancel = g_cancellable_new ();
  check->left_handler = g_cancellable_connect (check->call->cancellable,
                                               G_CALLBACK (on_caller_left),
                                               g_object_ref (check->polkit_cancel),
                                               g_object_unref);
  check->timeout_id = g_timeout_add_seconds (VML_POLKIT_TIMEOUT_S, on_polkit_timeout, check);
  if (check->self->polkit != NULL)
    ask_polkit (check);
  else
    polkit_authority_get_async (check->polkit_cancel, on_polkit_authority, check);
}

/* ---------------------------------------------------------------------- */
/* Deciding                                                               */

static void
decide (Check *check)
{
  if (!call_count (check->self, check->call, check->uid))
    {
      g_dbus_method_invocation_return_error (check->invocation, VML_ERROR, VML_ERROR_BUSY,
                                             "uid %u has too many calls in flight (at most "
                                             G_STRINGIFY (VML_CALLS_IN_FLIGHT_MAX) "); wait for "
                                             "their answers first", check->uid);
      check_free (check);
      return;
    }
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
  else
    ask_polkit_bounded (check);
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
  if (g_cancellable_is_cancelled (check->call->cancellable))
    {
      allow (check);   /* answers that the caller left */
      check_free (check);
      return;
    }
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
  check->call = call_track (self, invocation);
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
