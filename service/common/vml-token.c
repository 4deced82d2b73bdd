/* vml-token.c: see vml-token.h.
 *
 * Binary form: the GVariant (y version, y kind, a{sv} claims, ay inner,
 * ay mac) in normal form, where mac = HMAC-SHA256(issuer's key, the same
 * variant with an empty mac), followed by the first 16 bytes of SHA-256
 * over everything before them. Untrusted input is only ever read through
 * g_variant_is_normal_form()-checked variants. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <glib/gstdio.h>

#include "vml-error.h"
#include "vml-token.h"

#define TOKEN_VERSION   1
#define TOKEN_TYPE      "(yya{sv}ayay)"
#define KEY_SIZE        32
#define CHECKSUM_SIZE   16
#define TOKEN_MAX_BYTES (64 * 1024)

static const char *const kind_names[] = {
  [VML_TOKEN_BEGUN] = "begin",
  [VML_TOKEN_PREPARED] = "prepare",
  [VML_TOKEN_PERFORMED] = "perform",
  [VML_TOKEN_FINISHED] = "finish",
};

void
vml_token_free (VmlToken *token)
{
  if (token == NULL)
    return;
  g_free (token->uuid);
  g_free (token->transfer_id);
  g_free (token->lockspace);
  g_clear_pointer (&token->disks, g_variant_unref);
  g_clear_pointer (&token->inner, g_bytes_unref);
  g_clear_pointer (&token->raw, g_bytes_unref);
  g_free (token);
}

const char *
vml_token_kind_name (VmlTokenKind kind)
{
  return kind >= VML_TOKEN_BEGUN && kind <= VML_TOKEN_FINISHED ? kind_names[kind] : "unknown";
}

/* ---------------------------------------------------------------------- */

static GBytes *
read_or_make_key (const char *state_dir, GError **error)
{
  g_autofree char *path = g_build_filename (state_dir, "transfer.key", NULL);
  g_autofree char *tmp = g_strconcat (path, ".new", NULL);
  g_autofree char *contents = NULL;
  guint8 key[KEY_SIZE];
  gsize len;
  int fd;

  if (g_file_get_contents (path, &contents, &len, NULL) && len == KEY_SIZE)
    return g_bytes_new (contents, len);
  fd = open ("/dev/urandom", O_RDONLY | O_CLOEXEC);
  if (fd < 0 || read (fd, key, sizeof key) != (ssize_t) sizeof key)
    {
      g_set_error (error, VML_ERROR, VML_ERROR_FAILED, "cannot read /dev/urandom: %s",
                   g_strerror (errno));
      if (fd >= 0)
        close (fd);
      return NULL;
    }
  close (fd);
  if (!g_file_set_contents_full (tmp, (const char *) key, sizeof key,
                                 G_FILE_SET_CONTENTS_CONSISTENT, 0600, error) ||
      g_rename (tmp, path) != 0)
    {
      g_prefix_error (error, "cannot store the transfer key %s: ", path);
      return NULL;
    }
  return g_bytes_new (key, sizeof key);
}

/* Every Transfer step signs or checks a token; the key is read from the
 * state directory once, not on every step (it is never changed while
 * vmleased runs, only made when missing). */
GBytes *
vml_token_load_key (const char *state_dir, GError **error)
{
  static GMutex lock;
  static char *cached_dir;
  static GBytes *cached_key;
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&lock);
  GBytes *key;

  if (cached_key != NULL && g_strcmp0 (cached_dir, state_dir) == 0)
    return g_bytes_ref (cached_key);
  key = read_or_make_key (state_dir, error);
  if (key != NULL)
    {
      g_free (cached_dir);
      cached_dir = g_strdup (state_dir);
      g_clear_pointer (&cached_key, g_bytes_unref);
      cached_key = g_bytes_ref (key);
    }
  return key;
}

char *
vml_token_new_transfer_id (void)
{
  return g_strdup_printf ("%08x%08x%08x%08x", g_random_int (), g_random_int (),
                          g_random_int (), g_random_int ());
}

/* ---------------------------------------------------------------------- */

static GVariant *
claims_variant (const VmlToken *token)
{
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&builder, "{sv}", "uuid", g_variant_new_string (token->uuid));
  g_variant_builder_add (&builder, "{sv}", "transfer", g_variant_new_string (token->transfer_id));
  g_variant_builder_add (&builder, "{sv}", "lockspace", g_variant_new_string (token->lockspace));
  g_variant_builder_add (&builder, "{sv}", "offset", g_variant_new_uint64 (token->offset));
  g_variant_builder_add (&builder, "{sv}", "source", g_variant_new_uint64 (token->source));
  g_variant_builder_add (&builder, "{sv}", "source_gen", g_variant_new_uint64 (token->source_gen));
  g_variant_builder_add (&builder, "{sv}", "dest", g_variant_new_uint64 (token->dest));
  g_variant_builder_add (&builder, "{sv}", "dest_gen", g_variant_new_uint64 (token->dest_gen));
  g_variant_builder_add (&builder, "{sv}", "lver", g_variant_new_uint64 (token->lver));
  g_variant_builder_add (&builder, "{sv}", "postcopy", g_variant_new_boolean (token->postcopy));
  g_variant_builder_add (&builder, "{sv}", "success", g_variant_new_boolean (token->success));
  if (token->disks != NULL)
    g_variant_builder_add (&builder, "{sv}", "disks", token->disks);
  return g_variant_builder_end (&builder);
}

static GVariant *
bytes_variant (GBytes *bytes)
{
  if (bytes == NULL)
    return g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, NULL, 0, 1);
  return g_variant_new_from_bytes (G_VARIANT_TYPE_BYTESTRING, bytes, TRUE);
}

/* The token with @mac (NULL: empty) in normal form. */
static GVariant *
token_variant (guint8 kind, GVariant *claims, GBytes *inner, GBytes *mac)
{
  g_autoptr(GVariant) v = g_variant_new ("(yy@a{sv}@ay@ay)", TOKEN_VERSION, kind, claims,
                                         bytes_variant (inner), bytes_variant (mac));

  return g_variant_get_normal_form (g_variant_ref_sink (v));
}

static GBytes *
mac_of (GBytes *key, GVariant *unsigned_token)
{
  g_autoptr(GHmac) hmac = g_hmac_new (G_CHECKSUM_SHA256, g_bytes_get_data (key, NULL),
                                      g_bytes_get_size (key));
  guint8 digest[32];
  gsize len = sizeof digest;

  g_hmac_update (hmac, g_variant_get_data (unsigned_token), g_variant_get_size (unsigned_token));
  g_hmac_get_digest (hmac, digest, &len);
  return g_bytes_new (digest, len);
}

static void
checksum_of (const guint8 *data, gsize len, guint8 out[CHECKSUM_SIZE])
{
  g_autoptr(GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA256);
  guint8 digest[32];
  gsize dlen = sizeof digest;

  g_checksum_update (sum, data, len);
  g_checksum_get_digest (sum, digest, &dlen);
  memcpy (out, digest, CHECKSUM_SIZE);
}

/* The signed token as bytes (what an answering token carries inside). */
static GBytes *
signed_bytes (const VmlToken *token, GBytes *key)
{
  GVariant *claims = claims_variant (token);
  g_autoptr(GVariant) bare = token_variant (token->kind, g_variant_ref_sink (claims),
                                            token->inner, NULL);
  g_autoptr(GBytes) mac = mac_of (key, bare);
  g_autoptr(GVariant) full = token_variant (token->kind, claims, token->inner, mac);

  g_variant_unref (claims);
  return g_variant_get_data_as_bytes (full);
}

char *
vml_token_encode (const VmlToken *token, GBytes *key)
{
  g_autoptr(GBytes) body = signed_bytes (token, key);
  gsize len = g_bytes_get_size (body);
  g_autofree guint8 *buf = g_malloc (len + CHECKSUM_SIZE);
  g_autofree char *b64 = NULL;

  memcpy (buf, g_bytes_get_data (body, NULL), len);
  checksum_of (buf, len, buf + len);
  b64 = g_base64_encode (buf, len + CHECKSUM_SIZE);
  return g_strconcat (VML_TOKEN_PREFIX, b64, NULL);
}

/* ---------------------------------------------------------------------- */

static gboolean
stale (GError **error, const char *why)
{
  g_set_error (error, VML_ERROR, VML_ERROR_STALE_TOKEN,
               "the token is not usable: %s; pass the token the other host's last "
               "Transfer step returned, whole and unchanged", why);
  return FALSE;
}

/* A serialized token → the variant, if it is one in normal form. */
static GVariant *
parse_body (GBytes *body, GError **error)
{
  g_autoptr(GVariant) v = g_variant_new_from_bytes (G_VARIANT_TYPE (TOKEN_TYPE), body, FALSE);
  guint8 version;

  if (!g_variant_is_normal_form (v))
    {
      stale (error, "it is damaged");
      return NULL;
    }
  g_variant_get_child (v, 0, "y", &version);
  if (version != TOKEN_VERSION)
    {
      g_autofree char *why = g_strdup_printf ("it is of format version %u; this vmleased "
                                              "speaks %d", version, TOKEN_VERSION);
      stale (error, why);
      return NULL;
    }
  return g_steal_pointer (&v);
}

/* The claims, by name: one pass over the dictionary (g_variant_lookup per
 * field scans it again each time, and every step parses tokens). */
typedef enum { CLAIM_STRING, CLAIM_UINT64, CLAIM_BOOLEAN } ClaimType;

static const struct {
  const char *name;
  ClaimType   type;
  gsize       field;
} claim_fields[] = {
  { "uuid",       CLAIM_STRING,  G_STRUCT_OFFSET (VmlToken, uuid) },
  { "transfer",   CLAIM_STRING,  G_STRUCT_OFFSET (VmlToken, transfer_id) },
  { "lockspace",  CLAIM_STRING,  G_STRUCT_OFFSET (VmlToken, lockspace) },
  { "offset",     CLAIM_UINT64,  G_STRUCT_OFFSET (VmlToken, offset) },
  { "source",     CLAIM_UINT64,  G_STRUCT_OFFSET (VmlToken, source) },
  { "source_gen", CLAIM_UINT64,  G_STRUCT_OFFSET (VmlToken, source_gen) },
  { "dest",       CLAIM_UINT64,  G_STRUCT_OFFSET (VmlToken, dest) },
  { "dest_gen",   CLAIM_UINT64,  G_STRUCT_OFFSET (VmlToken, dest_gen) },
  { "lver",       CLAIM_UINT64,  G_STRUCT_OFFSET (VmlToken, lver) },
  { "postcopy",   CLAIM_BOOLEAN, G_STRUCT_OFFSET (VmlToken, postcopy) },
  { "success",    CLAIM_BOOLEAN, G_STRUCT_OFFSET (VmlToken, success) },
};

static const GVariantType *
claim_type (ClaimType type)
{
  switch (type)
    {
    case CLAIM_STRING:  return G_VARIANT_TYPE_STRING;
    case CLAIM_UINT64:  return G_VARIANT_TYPE_UINT64;
    case CLAIM_BOOLEAN: return G_VARIANT_TYPE_BOOLEAN;
    }
  g_assert_not_reached ();
}

/* Stores @value in the claim it names; FALSE for an unknown name, a wrong
 * type or a repeated claim. */
static gboolean
set_claim (VmlToken *token, const char *name, GVariant *value, guint32 *seen)
{
  for (guint i = 0; i < G_N_ELEMENTS (claim_fields); i++)
    {
      gpointer field = G_STRUCT_MEMBER_P (token, claim_fields[i].field);

      if (!g_str_equal (claim_fields[i].name, name))
        continue;
      if ((*seen & (1u << i)) || !g_variant_is_of_type (value, claim_type (claim_fields[i].type)))
        return FALSE;
      *seen |= 1u << i;
      if (claim_fields[i].type == CLAIM_STRING)
        *(char **) field = g_variant_dup_string (value, NULL);
      else if (claim_fields[i].type == CLAIM_UINT64)
        *(guint64 *) field = g_variant_get_uint64 (value);
      else
        *(gboolean *) field = g_variant_get_boolean (value);
      return TRUE;
    }
  return FALSE;
}

static gboolean
read_claims (VmlToken *token, GVariant *claims)
{
  gsize n = g_variant_n_children (claims);
  guint32 seen = 0;

  for (gsize i = 0; i < n; i++)
    {
      g_autoptr(GVariant) entry = g_variant_get_child_value (claims, i);
      g_autoptr(GVariant) key = g_variant_get_child_value (entry, 0);
      g_autoptr(GVariant) boxed = g_variant_get_child_value (entry, 1);
      g_autoptr(GVariant) value = g_variant_get_variant (boxed);

      /* the one optional claim: a hand-off's disk leases */
      if (g_str_equal (g_variant_get_string (key, NULL), "disks"))
        {
          if (token->disks != NULL || !g_variant_is_of_type (value, G_VARIANT_TYPE ("a(ss)")))
            return FALSE;
          token->disks = g_variant_ref (value);
          continue;
        }
      if (!set_claim (token, g_variant_get_string (key, NULL), value, &seen))
        return FALSE;
    }
  return seen == (1u << G_N_ELEMENTS (claim_fields)) - 1;
}

static VmlToken *
token_from_variant (GVariant *v, GError **error)
{
  g_autoptr(VmlToken) token = g_new0 (VmlToken, 1);
  g_autoptr(GVariant) claims = NULL, inner = NULL;
  guint8 version, kind;

  g_variant_get (v, "(yy@a{sv}@ayay)", &version, &kind, &claims, &inner, NULL);
  if (kind < VML_TOKEN_BEGUN || kind > VML_TOKEN_FINISHED)
    {
      stale (error, "it is of no known kind");
      return NULL;
    }
  token->kind = kind;
  if (!read_claims (token, claims))
    {
      stale (error, "its fields are not those of a token");
      return NULL;
    }
  if (g_variant_get_size (inner) > 0)
    token->inner = g_variant_get_data_as_bytes (inner);
  return g_steal_pointer (&token);
}

VmlToken *
vml_token_decode (const char *text, GError **error)
{
  g_autofree guint8 *raw = NULL;
  g_autoptr(GBytes) body = NULL;
  g_autoptr(GVariant) v = NULL;
  guint8 sum[CHECKSUM_SIZE];
  gsize len = 0;

  if (text == NULL || !g_str_has_prefix (text, VML_TOKEN_PREFIX) || strlen (text) > TOKEN_MAX_BYTES)
    {
      stale (error, "it does not start with \"" VML_TOKEN_PREFIX "\"");
      return NULL;
    }
  for (const char *p = text + strlen (VML_TOKEN_PREFIX); *p; p++)
    if (!g_ascii_isalnum (*p) && *p != '+' && *p != '/' && *p != '=')
      {
        stale (error, "it holds characters that are not base64");
        return NULL;
      }
  raw = g_base64_decode (text + strlen (VML_TOKEN_PREFIX), &len);
  if (len <= CHECKSUM_SIZE)
    {
      stale (error, "it is too short (cut off?)");
      return NULL;
    }
  /* Several texts decode to the same bytes (unused bits, padding): only
   * the one we write is a token, so a changed character always shows. */
  {
    g_autofree char *canonical = g_base64_encode (raw, len);

    if (!g_str_equal (canonical, text + strlen (VML_TOKEN_PREFIX)))
      {
        stale (error, "it was changed (not as issued)");
        return NULL;
      }
  }
  checksum_of (raw, len - CHECKSUM_SIZE, sum);
  if (memcmp (sum, raw + len - CHECKSUM_SIZE, CHECKSUM_SIZE) != 0)
    {
      stale (error, "its checksum does not match (changed or cut off)");
      return NULL;
    }
  VmlToken *token;

  body = g_bytes_new (raw, len - CHECKSUM_SIZE);
  v = parse_body (body, error);
  token = v ? token_from_variant (v, error) : NULL;
  if (token != NULL)
    token->raw = g_bytes_ref (body);
  return token;
}

static gboolean
macs_equal (GBytes *a, GBytes *b)
{
  gsize alen, blen;
  const guint8 *ad = g_bytes_get_data (a, &alen), *bd = g_bytes_get_data (b, &blen);
  guint8 diff = 0;

  if (alen != blen)
    return FALSE;
  for (gsize i = 0; i < alen; i++)   /* constant time */
    diff |= ad[i] ^ bd[i];
  return diff == 0;
}

/* The token issued as @body, if this host signed it with @key and it is of
 * @kind; @whose says in an error which token that is. */
static VmlToken *
open_signed (GBytes *body, GBytes *key, VmlTokenKind kind, const char *whose, GError **error)
{
  g_autoptr(GVariant) v = NULL, claims = NULL, inner_bytes = NULL, mac_v = NULL;
  g_autoptr(GVariant) bare = NULL;
  g_autoptr(GBytes) mac = NULL, expected = NULL, inner_inner = NULL;
  guint8 version, body_kind;
  VmlToken *token;

  v = parse_body (body, error);
  if (v == NULL)
    return NULL;
  g_variant_get (v, "(yy@a{sv}@ay@ay)", &version, &body_kind, &claims, &inner_bytes, &mac_v);
  if (g_variant_get_size (inner_bytes) > 0)
    inner_inner = g_variant_get_data_as_bytes (inner_bytes);
  bare = token_variant (body_kind, claims, inner_inner, NULL);
  mac = g_variant_get_data_as_bytes (mac_v);
  expected = mac_of (key, bare);
  if (!macs_equal (mac, expected))
    {
      g_autofree char *why = g_strdup_printf ("%s was not issued by this host (or was changed)",
                                              whose);
      stale (error, why);
      return NULL;
    }
  if (body_kind != kind)
    {
      g_autofree char *why = g_strdup_printf ("%s is a %s token, not the %s token this step "
                                              "expects", whose, vml_token_kind_name (body_kind),
                                              vml_token_kind_name (kind));
      stale (error, why);
      return NULL;
    }
  token = token_from_variant (v, error);
  if (token != NULL)
    token->raw = g_bytes_ref (body);
  return token;
}

VmlToken *
vml_token_open_inner (const VmlToken *token, GBytes *key, VmlTokenKind kind, GError **error)
{
  if (token->inner == NULL)
    {
      stale (error, "it answers no token of ours");
      return NULL;
    }
  return open_signed (token->inner, key, kind, "the token it answers", error);
}

VmlToken *
vml_token_open_own (const VmlToken *token, GBytes *key, VmlTokenKind kind, GError **error)
{
  return open_signed (token->raw, key, kind, "it", error);
}

VmlToken *
vml_token_peek_inner (const VmlToken *token, GError **error)
{
  g_autoptr(GVariant) v = NULL;
  VmlToken *inner;

  if (token->inner == NULL)
    {
      stale (error, "it answers no token");
      return NULL;
    }
  v = parse_body (token->inner, error);
  inner = v ? token_from_variant (v, error) : NULL;
  if (inner != NULL)
    inner->raw = g_bytes_ref (token->inner);
  return inner;
}
