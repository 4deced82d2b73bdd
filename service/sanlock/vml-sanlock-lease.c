/* vml-sanlock-lease.c: the pid-targeted operations vmleased runs on behalf
 * of a holder process (acquire, release, convert, inquire), and requests to
 * the holder of a lease on another host; see vml-sanlock.h. */
#include "config.h"

#include <errno.h>
#include <stdint.h>   /* sanlock's headers use uint32_t without including it */
#include <string.h>

#include <sanlock.h>
#include <sanlock_admin.h>
#include <sanlock_resource.h>
#include <sanlock_rv.h>

#include "vml-error.h"
#include "vml-sanlock.h"
#include "vml-sanlock-private.h"

/* sanlock answers -EBUSY while another command runs for the same client;
 * it never queues, so we retry for a while. The budget is a time, not a
 * count: the other command (an acquire writes its lease on storage) may
 * take much longer on a loaded host than on an idle one. */
#define BUSY_WAIT_US          (5 * G_USEC_PER_SEC)
#define BUSY_RETRY_US         (50 * 1000)

/* ---- pid-targeted operations ---------------------------------------- */

/* Our own host id in @lockspace, 0 if unknown. */
static guint64
local_host_id (const char *lockspace)
{
  struct sanlk_lockspace found;
  return vml_sanlock_priv_find_joined (lockspace, &found) ? found.host_id : 0;
}

static void
append_host (GString *s, guint64 id, guint64 self)
{
  g_string_append_printf (s, "%" G_GUINT64_FORMAT "%s", id, id == self ? " (this host)" : "");
}

/* "held exclusively by host 2 (generation 4)" / "held shared by hosts 1, 3";
 * @owners lists at least one owner. */
static char *
owners_text (const VmlSanlockOwners *owners, guint64 self)
{
  GString *s = g_string_new ("held");

  if (owners->owner != 0)
    {
      g_string_append (s, " exclusively by host ");
      append_host (s, owners->owner, self);
      g_string_append_printf (s, " (generation %" G_GUINT64_FORMAT ")", owners->owner_generation);
    }
  if (owners->shared_owners->len > 0)
    {
      g_string_append (s, owners->owner != 0 ? " and shared by host" : " shared by host");
      g_string_append (s, owners->shared_owners->len > 1 ? "s " : " ");
      for (guint i = 0; i < owners->shared_owners->len; i++)
        {
          if (i > 0)
            g_string_append (s, ", ");
          append_host (s, g_array_index (owners->shared_owners, guint64, i), self);
        }
    }
  return g_string_free (s, FALSE);
}

static char *
describe_owners (const VmlSanlockResource *res)
{
  g_autoptr(VmlSanlockOwners) owners = vml_sanlock_read_owners (res, NULL);

  if (owners == NULL || (owners->owner == 0 && owners->shared_owners->len == 0))
    return g_strdup ("held by another host (no owner is on storage now; try again)");
  return owners_text (owners, local_host_id (res->lockspace));
}

static gboolean
is_busy (int rv)
{
  switch (rv)
    {
    case -EAGAIN:                     /* EX vs live SH holders; SH->EX likewise */
    case SANLK_ACQUIRE_IDLIVE:        /* the owner's host is alive */
    case SANLK_ACQUIRE_OWNED:         /* another host won the ballot */
    case SANLK_ACQUIRE_OTHER:
    case SANLK_ACQUIRE_SHRETRY:       /* owner only briefly EX while going SH */
    case SANLK_ACQUIRE_OWNED_RETRY:
      return TRUE;
    default:
      return FALSE;
    }
}

/* What all pid-targeted calls share after their specific codes. */
static gboolean
fail_holder_op (const VmlSanlockResource *res, pid_t holder, const char *verb, int rv,
                GError **error)
{
  g_autofree char *what = vml_sanlock_priv_describe_resource (res);

  switch (rv)
    {
    case -EBUSY:
      return vml_sanlock_priv_fail (error, VML_ERROR_FAILED, rv,
                                    "Cannot %s %s: another sanlock command for holder process "
                                    "%d kept running; try again", verb, what, (int) holder);
    case -ESTALE:
    case -ENOTTY:
      return vml_sanlock_priv_fail (error, VML_ERROR_FAILED, rv,
                                    "Cannot %s %s: holder process %d exited meanwhile",
                                    verb, what, (int) holder);
    case -ENOSPC:
    case SANLK_ACQUIRE_LOCKSPACE:
      return vml_sanlock_priv_fail (error, VML_ERROR_LOCKSPACE_NOT_JOINED, rv,
                                    "Cannot %s %s: this host has not joined lockspace '%s', "
                                    "or it is failing", verb, what, res->lockspace);
    default:
      {
        g_autofree char *action = g_strdup_printf ("%s %s", verb, what);
        return vml_sanlock_priv_fail_resource_area (res->path, res->offset, action, rv, error);
      }
    }
}

static guint64
current_lver (const VmlSanlockResource *res)
{
  ResourceArgs args;

  if (!vml_sanlock_priv_resource_args (res, &args, NULL) ||
      VML_SANLOCK_CALL (sanlock_read_resource (&args.res, 0)) < 0)
    return 0;
  return args.res.lver;
}

static gboolean
fail_acquire (const VmlSanlockResource *res, pid_t holder, guint64 lver, int rv,
              GError **error)
{
  g_autofree char *what = vml_sanlock_priv_describe_resource (res);
  gboolean held = FALSE;

  if (is_busy (rv))
    {
      g_autofree char *who = describe_owners (res);
      return vml_sanlock_priv_fail (error, VML_ERROR_BUSY, rv,
                                    "Cannot acquire %s: it is %s", what, who);
    }
  switch (rv)
    {
    case SANLK_ACQUIRE_LVER:
      return vml_sanlock_priv_fail (error, VML_ERROR_BUSY, rv,
                                    "Cannot acquire %s: it was taken by another host "
                                    "meanwhile (version %" G_GUINT64_FORMAT ", expected %"
                                    G_GUINT64_FORMAT ")",
                                    what, current_lver (res), lver);
    case -EEXIST:
      /* acquire_token(): the resource is already held on this host */
      vml_sanlock_inquire_holder (holder, res->name, &held, NULL, NULL, NULL);
      if (held)
        return vml_sanlock_priv_fail (error, VML_ERROR_EXISTS, rv,
                                      "Holder process %d already holds %s", (int) holder, what);
      return vml_sanlock_priv_fail (error, VML_ERROR_BUSY, rv,
                                    "Cannot acquire %s: another process on this host holds "
                                    "it", what);
    case -EUCLEAN:
      return vml_sanlock_priv_fail (error, VML_ERROR_BUSY, rv,
                                    "Cannot acquire %s: it is held as an orphan on this host "
                                    "(its holder exited without releasing it)", what);
    case -ESRCH:
      return vml_sanlock_priv_fail (error, VML_ERROR_FAILED, rv,
                                    "Cannot acquire %s: holder process %d is not registered "
                                    "with sanlock", what, (int) holder);
    default:
      return fail_holder_op (res, holder, "acquire", rv, error);
    }
}

/* Retries a pid-targeted call while sanlock answers -EBUSY, for up to
 * BUSY_WAIT_US. */
#define RETRY_BUSY(rv, call)                                               \
  G_STMT_START {                                                           \
    gint64 busy_deadline_ = g_get_monotonic_time () + BUSY_WAIT_US;        \
    for (;;)                                                               \
      {                                                                    \
        (rv) = (call);                                                     \
        if ((rv) != -EBUSY || g_get_monotonic_time () >= busy_deadline_)   \
          break;                                                           \
        g_usleep (BUSY_RETRY_US);                                          \
      }                                                                    \
  } G_STMT_END

gboolean
vml_sanlock_acquire (const VmlSanlockResource *res, pid_t holder, gboolean shared,
                     guint64 lver, guint64 *lver_out, GError **error)
{
  struct sanlk_resource *list[1];
  ResourceArgs args;
  gboolean held = FALSE;
  int rv;

  if (!vml_sanlock_priv_resource_args (res, &args, error) ||
      !vml_sanlock_priv_holder_arg (holder, error))
    return FALSE;
  if (shared)
    args.res.flags |= SANLK_RES_SHARED;
  if (lver != 0)
    {
      args.res.flags |= SANLK_RES_LVER;
      args.res.lver = lver;
    }
  list[0] = &args.res;
  RETRY_BUSY (rv, VML_SANLOCK_CALL (sanlock_acquire (-1, holder, 0, 1, list, NULL)));
  if (rv < 0)
    return fail_acquire (res, holder, lver, rv, error);
  if (lver_out == NULL)
    return TRUE;

  /* The daemon does not send the lver back. For EX, inquire reports the
   * lver the token got; SH tokens carry none, so read the leader. */
  *lver_out = 0;
  if (!shared)
    vml_sanlock_inquire_holder (holder, res->name, &held, NULL, lver_out, NULL);
  else
    *lver_out = current_lver (res);
  return TRUE;
}

gboolean
vml_sanlock_release (const VmlSanlockResource *res, pid_t holder, GError **error)
{
  g_autofree char *what = NULL;
  struct sanlk_resource *list[1];
  ResourceArgs args;
  int rv;

  if (!vml_sanlock_priv_resource_args (res, &args, error) ||
      !vml_sanlock_priv_holder_arg (holder, error))
    return FALSE;
  list[0] = &args.res;
  RETRY_BUSY (rv, VML_SANLOCK_CALL (sanlock_release (-1, holder, 0, 1, list)));
  if (rv == 0)
    return TRUE;
  what = vml_sanlock_priv_describe_resource (res);
  switch (rv)
    {
    case -1:       /* cmd_release(): the client has no such token */
      return vml_sanlock_priv_fail (error, VML_ERROR_NOT_HELD, rv,
                                    "Holder process %d does not hold %s", (int) holder, what);
    case -ESRCH:   /* no such client: whatever it held was released when it went */
      return vml_sanlock_priv_fail (error, VML_ERROR_NOT_HELD, rv,
                                    "Holder process %d is not registered with sanlock, so "
                                    "it holds nothing", (int) holder);
    default:
      /* release_token() forgot the token even if writing the release
       * failed: the holder no longer has it, storage may still say so. */
      return fail_holder_op (res, holder, "release", rv, error);
    }
}

gboolean
vml_sanlock_convert (const VmlSanlockResource *res, pid_t holder, gboolean to_shared,
                     GError **error)
{
  g_autofree char *what = NULL;
  ResourceArgs args;
  int rv;

  if (!vml_sanlock_priv_resource_args (res, &args, error) ||
      !vml_sanlock_priv_holder_arg (holder, error))
    return FALSE;
  if (to_shared)
    args.res.flags |= SANLK_RES_SHARED;
  RETRY_BUSY (rv, VML_SANLOCK_CALL (sanlock_convert (-1, holder, 0, &args.res)));
  /* convert_token(): -EALREADY when it is in that mode already */
  if (rv == 0 || rv == -EALREADY)
    return TRUE;
  what = vml_sanlock_priv_describe_resource (res);
  if (is_busy (rv))
    {
      g_autofree char *who = describe_owners (res);
      return vml_sanlock_priv_fail (error, VML_ERROR_BUSY, rv,
                                    "Cannot make %s exclusive: it is %s", what, who);
    }
  switch (rv)
    {
    case -ENOENT:  /* cmd_convert(): no such token for this client */
      return vml_sanlock_priv_fail (error, VML_ERROR_NOT_HELD, rv,
                                    "Holder process %d does not hold %s", (int) holder, what);
    case -ESRCH:
      return vml_sanlock_priv_fail (error, VML_ERROR_NOT_HELD, rv,
                                    "Holder process %d is not registered with sanlock, so "
                                    "it holds nothing", (int) holder);
    default:
      return fail_holder_op (res, holder, to_shared ? "share" : "make exclusive", rv, error);
    }
}

/* Looks @res_name up in an inquire state string. */
static void
parse_state (char *state, const char *res_name, gboolean *held, gboolean *shared,
             guint64 *lver)
{
  struct sanlk_resource **list = NULL;
  int count = 0;

  if (sanlock_state_to_args (state, &count, &list) < 0)
    return;
  for (int i = 0; i < count; i++)
    {
      if (!*held && strncmp (list[i]->name, res_name, SANLK_NAME_LEN) == 0)
        {
          *held = TRUE;
          *shared = (list[i]->flags & SANLK_RES_SHARED) != 0;
          /* res_to_str() prints "SH" instead of an lver for shared tokens */
          *lver = *shared ? 0 : list[i]->lver;
        }
      free (list[i]);
    }
  free (list);
}

gboolean
vml_sanlock_inquire_holder (pid_t holder, const char *res_name, gboolean *held,
                            gboolean *shared, guint64 *lver, GError **error)
{
  char name[SANLK_NAME_LEN];
  gboolean is_shared = FALSE;
  guint64 held_lver = 0;
  char *state = NULL;
  int count = 0;
  int rv;

  *held = FALSE;
  if (!vml_sanlock_priv_copy_name (name, res_name, "lease", error) ||
      !vml_sanlock_priv_holder_arg (holder, error))
    return FALSE;
  RETRY_BUSY (rv, VML_SANLOCK_CALL (sanlock_inquire (-1, holder, 0, &count, &state)));
  if (rv == -ESRCH)
    rv = 0;   /* not registered: holds nothing */
  if (rv < 0)
    {
      free (state);
      if (vml_sanlock_priv_daemon_unreachable (rv))
        return vml_sanlock_priv_fail (error, VML_ERROR_FAILED, rv,
                                      "Cannot ask sanlock what holder process %d holds: the "
                                      "daemon does not answer at %s/sanlock.sock",
                                      (int) holder, vml_sanlock_priv_run_dir ());
      return vml_sanlock_priv_fail (error, VML_ERROR_FAILED, rv,
                                    "Cannot ask sanlock what holder process %d holds",
                                    (int) holder);
    }
  if (state != NULL && count > 0)
    parse_state (state, res_name, held, &is_shared, &held_lver);
  free (state);
  if (shared != NULL)
    *shared = is_shared;
  if (lver != NULL)
    *lver = held_lver;
  return TRUE;
}

gboolean
vml_sanlock_holder_holds_any (pid_t holder, gboolean *any, GError **error)
{
  char *state = NULL;
  int count = 0;
  int rv;

  *any = FALSE;
  if (!vml_sanlock_priv_holder_arg (holder, error))
    return FALSE;
  RETRY_BUSY (rv, VML_SANLOCK_CALL (sanlock_inquire (-1, holder, 0, &count, &state)));
  free (state);
  if (rv == -ESRCH)
    return TRUE;   /* not registered: holds nothing */
  if (rv < 0)
    return vml_sanlock_priv_fail (error, VML_ERROR_FAILED, rv,
                                  "Cannot ask sanlock what holder process %d holds",
                                  (int) holder);
  *any = count > 0;
  return TRUE;
}

void
vml_sanlock_held_free (VmlSanlockHeld *held)
{
  g_free (held->lockspace);
  g_free (held->name);
  g_free (held->path);
  g_free (held);
}

static VmlSanlockHeld *
held_from_resource (const struct sanlk_resource *r)
{
  VmlSanlockHeld *held = g_new0 (VmlSanlockHeld, 1);

  held->lockspace = g_strndup (r->lockspace_name, SANLK_NAME_LEN);
  held->name = g_strndup (r->name, SANLK_NAME_LEN);
  if (r->num_disks > 0)
    {
      held->path = g_strndup (r->disks[0].path, SANLK_PATH_LEN);
      held->offset = r->disks[0].offset;
    }
  held->shared = (r->flags & SANLK_RES_SHARED) != 0;
  held->lver = held->shared ? 0 : r->lver;
  return held;
}

GPtrArray *
vml_sanlock_holder_resources (pid_t holder, GError **error)
{
  g_autoptr(GPtrArray) found = g_ptr_array_new_with_free_func (
    (GDestroyNotify) vml_sanlock_held_free);
  struct sanlk_resource **list = NULL;
  char *state = NULL;
  int count = 0;
  int rv;

  if (!vml_sanlock_priv_holder_arg (holder, error))
    return NULL;
  RETRY_BUSY (rv, sanlock_inquire (-1, holder, 0, &count, &state));
  if (rv == -ESRCH)
    return g_steal_pointer (&found);   /* not a client of this daemon */
  if (rv < 0)
    {
      free (state);
      vml_sanlock_priv_fail (error, VML_ERROR_FAILED, rv,
                             "Cannot ask sanlock what process %d holds", (int) holder);
      return NULL;
    }
  if (state != NULL && count > 0 && sanlock_state_to_args (state, &count, &list) == 0)
    {
      for (int i = 0; i < count; i++)
        {
          g_ptr_array_add (found, held_from_resource (list[i]));
          free (list[i]);
        }
      free (list);
    }
  free (state);
  return g_steal_pointer (&found);
}

/* ---- requests to another host's owner -------------------------------- */

/* sanlock would accept two requests that do nothing: for a lease without an
 * exclusive owner, request_token() finds the leader free, answers 0 and
 * writes nothing (shared holders never own the leader, so they are never
 * asked); for a lease this host owns, it writes the request, but no daemon
 * ever acts on it (create_bitmap_and_extra() never flags our own host id).
 * Say so instead. */
static gboolean
check_request_target (const VmlSanlockResource *res, GError **error)
{
  g_autoptr(VmlSanlockOwners) owners = vml_sanlock_read_owners (res, error);
  g_autofree char *what = NULL;
  g_autofree char *who = NULL;
  guint64 self;

  if (owners == NULL)
    return FALSE;
  self = local_host_id (res->lockspace);
  if (owners->owner != 0 && owners->owner != self)
    return TRUE;
  what = vml_sanlock_priv_describe_resource (res);
  if (owners->owner == 0 && owners->shared_owners->len == 0)
    {
      g_set_error (error, VML_ERROR, VML_ERROR_NOT_HELD,
                   "Cannot request %s: no host holds it; acquire it instead", what);
      return FALSE;
    }
  who = owners_text (owners, self);
  if (owners->owner == 0)
    g_set_error (error, VML_ERROR, VML_ERROR_NOT_HELD,
                 "Cannot request %s: it is %s, and sanlock passes requests to an exclusive "
                 "owner only", what, who);
  else
    g_set_error (error, VML_ERROR, VML_ERROR_INVALID_ARGUMENT,
                 "Cannot request %s: it is %s; release it here instead", what, who);
  return FALSE;
}

static gboolean
fail_request (const VmlSanlockResource *res, guint64 lver, int rv, GError **error)
{
  g_autofree char *what = vml_sanlock_priv_describe_resource (res);

  switch (rv)
    {
    case SANLK_REQUEST_OLD:
      /* request_token(): the lver on storage is >= the one requested */
      return vml_sanlock_priv_fail (error, VML_ERROR_BUSY, rv,
                                    "Cannot request version %" G_GUINT64_FORMAT " of %s: it "
                                    "changed hands meanwhile (version %" G_GUINT64_FORMAT
                                    " now); look at its owner again",
                                    lver, what, current_lver (res));
    case SANLK_REQUEST_LVER:
      /* request_token(): the request block asks for a later lver already */
      return vml_sanlock_priv_fail (error, VML_ERROR_BUSY, rv,
                                    "Cannot request %s: a request for a later version of it "
                                    "is pending already", what);
    case SANLK_REQUEST_MAGIC:
    case SANLK_REQUEST_VERSION:
      {
        g_autofree char *where = vml_sanlock_priv_describe_location (res->path, res->offset);
        return vml_sanlock_priv_fail (error, VML_ERROR_STORAGE_FAILURE, rv,
                                      "Cannot request %s: the request block of the lease at "
                                      "%s holds damaged or foreign data", what, where);
      }
    case -ENOSPC:
      /* cmd_request(): lockspace_info() failed, or the lockspace is failing */
      return vml_sanlock_priv_fail (error, VML_ERROR_LOCKSPACE_NOT_JOINED, rv,
                                    "Cannot request %s: this host has not joined lockspace "
                                    "'%s', or it is failing", what, res->lockspace);
    default:
      {
        g_autofree char *action = g_strdup_printf ("request %s", what);
        return vml_sanlock_priv_fail_resource_area (res->path, res->offset, action, rv, error);
      }
    }
}

gboolean
vml_sanlock_request (const VmlSanlockResource *res, guint64 lver, GError **error)
{
  ResourceArgs args;
  int rv;

  if (!vml_sanlock_priv_resource_args (res, &args, error) ||
      !check_request_target (res, error))
    return FALSE;
  args.res.lver = lver;
  /* Never SANLK_REQ_FORCE: the owner's daemon would kill() the pid it
   * recorded for the lease, which is 0 for a lease acquired shared and
   * converted (a migration's destination): its own process group. GRACEFUL
   * runs the holder's kill path instead, which names the holder. */
  rv = VML_SANLOCK_CALL (sanlock_request (lver == 0 ? SANLK_REQUEST_NEXT_LVER : 0,
                                          SANLK_REQ_GRACEFUL, &args.res));
  if (rv < 0)
    return fail_request (res, lver, rv, error);
  return TRUE;
}
