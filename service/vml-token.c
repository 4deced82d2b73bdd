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

GBytes *
vml_token_load_key (const char *state_dir, GError **error)
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
  GVariantDict dict;

  g_variant_dict_init (&dict, NULL);
  g_variant_dict_insert (&dict, "uuid", "s", token->uuid);
  g_variant_dict_insert (&dict, "transfer", "s", token->transfer_id);
  g_variant_dict_insert (&dict, "lockspace", "s", token->lockspace);
  g_variant_dict_insert (&dict, "offset", "t", token->offset);
  g_variant_dict_insert (&dict, "source", "t", token->source);
  g_variant_dict_insert (&dict, "source_gen", "t", token->source_gen);
  g_variant_dict_insert (&dict, "dest", "t", token->dest);
  g_variant_dict_insert (&dict, "dest_gen", "t", token->dest_gen);
  g_variant_dict_insert (&dict, "lver", "t", token->lver);
  g_variant_dict_insert (&dict, "postcopy", "b", token->postcopy);
  g_variant_dict_insert (&dict, "success", "b", token->success);
  return g_variant_dict_end (&dict);
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
  g_autoptr(GVariant) bare = token_variant (token->kind, g_variant_ref_sink (claims), token->inner, NULL);
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
  if (!g_variant_lookup (claims, "uuid", "s", &token->uuid) ||
      !g_variant_lookup (claims, "transfer", "s", &token->transfer_id) ||
      !g_variant_lookup (claims, "lockspace", "s", &token->lockspace) ||
      !g_variant_lookup (claims, "offset", "t", &token->offset) ||
      !g_variant_lookup (claims, "source", "t", &token->source) ||
      !g_variant_lookup (claims, "source_gen", "t", &token->source_gen) ||
      !g_variant_lookup (claims, "dest", "t", &token->dest) ||
      !g_variant_lookup (claims, "dest_gen", "t", &token->dest_gen) ||
      !g_variant_lookup (claims, "lver", "t", &token->lver) ||
      !g_variant_lookup (claims, "postcopy", "b", &token->postcopy) ||
      !g_variant_lookup (claims, "success", "b", &token->success))
    {
      stale (error, "it lacks a field");
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

VmlToken *
vml_token_open_inner (const VmlToken *token, GBytes *key, VmlTokenKind kind, GError **error)
{
  g_autoptr(GVariant) v = NULL, claims = NULL, inner_bytes = NULL, mac_v = NULL;
  g_autoptr(GVariant) bare = NULL;
  g_autoptr(GBytes) mac = NULL, expected = NULL, inner_inner = NULL;
  guint8 version, inner_kind;

  if (token->inner == NULL)
    {
      stale (error, "it answers no token of ours");
      return NULL;
    }
  v = parse_body (token->inner, error);
  if (v == NULL)
    return NULL;
  g_variant_get (v, "(yy@a{sv}@ay@ay)", &version, &inner_kind, &claims, &inner_bytes, &mac_v);
  if (g_variant_get_size (inner_bytes) > 0)
    inner_inner = g_variant_get_data_as_bytes (inner_bytes);
  bare = token_variant (inner_kind, claims, inner_inner, NULL);
  mac = g_variant_get_data_as_bytes (mac_v);
  expected = mac_of (key, bare);
  if (!macs_equal (mac, expected))
    {
      stale (error, "the token it answers was not issued by this host (or was changed)");
      return NULL;
    }
  if (inner_kind != kind)
    {
      g_autofree char *why = g_strdup_printf ("it answers a %s token, not the %s token this "
                                              "step expects", vml_token_kind_name (inner_kind),
                                              vml_token_kind_name (kind));
      stale (error, why);
      return NULL;
    }
  return token_from_variant (v, error);
}
