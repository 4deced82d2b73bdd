/* Unit tests for the migration tokens: they round-trip, any changed, cut or
 * added byte is refused, and a host recognises only its own tokens inside
 * the ones it gets back. */
#include "config.h"

#include <glib/gstdio.h>

#include "vml-error.h"
#include "vml-token.h"

static GBytes *
key_of (char c)
{
  guint8 key[32];

  memset (key, c, sizeof key);
  return g_bytes_new (key, sizeof key);
}

static VmlToken *
sample (VmlTokenKind kind, GBytes *inner)
{
  VmlToken *t = g_new0 (VmlToken, 1);

  t->kind = kind;
  t->uuid = g_strdup ("8c1e3c6a-2f51-4b7e-9f0a-3d2b1c4e5f60");
  t->transfer_id = g_strdup ("00112233445566778899aabbccddeeff");
  t->lockspace = g_strdup ("sandbox");
  t->offset = 3 * 1024 * 1024;
  t->source = 1;
  t->source_gen = 4;
  t->dest = kind == VML_TOKEN_BEGUN ? 0 : 2;
  t->dest_gen = 7;
  t->lver = 12;
  t->postcopy = kind == VML_TOKEN_PERFORMED;
  t->inner = inner ? g_bytes_ref (inner) : NULL;
  return t;
}

/* The bytes a token carries for the next host: decode and take its body. */
static GBytes *
as_inner (const char *text)
{
  gsize len;
  g_autofree guint8 *raw = g_base64_decode (text + strlen (VML_TOKEN_PREFIX), &len);

  return g_bytes_new (raw, len - 16);   /* minus the checksum */
}

static void
test_round_trip (void)
{
  g_autoptr(GBytes) key = key_of ('s');
  g_autoptr(VmlToken) t1 = sample (VML_TOKEN_BEGUN, NULL);
  g_autofree char *text = vml_token_encode (t1, key);
  g_autoptr(GError) error = NULL;
  g_autoptr(VmlToken) back = vml_token_decode (text, &error);

  g_assert_no_error (error);
  g_assert_true (g_str_has_prefix (text, "vml1."));
  g_assert_cmpint (back->kind, ==, VML_TOKEN_BEGUN);
  g_assert_cmpstr (back->uuid, ==, t1->uuid);
  g_assert_cmpstr (back->transfer_id, ==, t1->transfer_id);
  g_assert_cmpstr (back->lockspace, ==, "sandbox");
  g_assert_cmpuint (back->offset, ==, t1->offset);
  g_assert_cmpuint (back->source_gen, ==, 4);
  g_assert_cmpuint (back->lver, ==, 12);
  g_assert_null (back->inner);
}

static void
test_every_changed_byte_is_refused (void)
{
  g_autoptr(GBytes) key = key_of ('s');
  g_autoptr(VmlToken) t1 = sample (VML_TOKEN_BEGUN, NULL);
  g_autofree char *text = vml_token_encode (t1, key);
  gsize len;
  g_autofree guint8 *raw = g_base64_decode (text + strlen (VML_TOKEN_PREFIX), &len);

  for (gsize i = 0; i < len; i++)
    for (guint bit = 0; bit < 8; bit += 3)
      {
        g_autoptr(GError) error = NULL;
        g_autofree char *b64 = NULL, *bad = NULL;
        g_autoptr(VmlToken) decoded = NULL;

        raw[i] ^= 1u << bit;
        b64 = g_base64_encode (raw, len);
        bad = g_strconcat (VML_TOKEN_PREFIX, b64, NULL);
        decoded = vml_token_decode (bad, &error);
        g_assert_null (decoded);
        g_assert_error (error, VML_ERROR, VML_ERROR_STALE_TOKEN);
        raw[i] ^= 1u << bit;
      }
}

static void
test_cut_and_garbage_are_refused (void)
{
  g_autoptr(GBytes) key = key_of ('s');
  g_autoptr(VmlToken) t1 = sample (VML_TOKEN_BEGUN, NULL);
  g_autofree char *text = vml_token_encode (t1, key);
  const char *bad[] = { "", "vml1.", "vml2.AAAA", "hello", "vml1.!!!!", "vml1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" };

  for (gsize cut = strlen (VML_TOKEN_PREFIX); cut < strlen (text); cut += 3)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *shorter = g_strndup (text, cut);
      g_autoptr(VmlToken) decoded = vml_token_decode (shorter, &error);

      g_assert_null (decoded);
      g_assert_error (error, VML_ERROR, VML_ERROR_STALE_TOKEN);
    }
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(VmlToken) decoded = vml_token_decode (bad[i], &error);

      g_assert_null (decoded);
      g_assert_error (error, VML_ERROR, VML_ERROR_STALE_TOKEN);
    }
}

static void
test_own_token_recognised_inside (void)
{
  g_autoptr(GBytes) source_key = key_of ('s'), dest_key = key_of ('d'), other_key = key_of ('x');
  g_autoptr(VmlToken) t1 = sample (VML_TOKEN_BEGUN, NULL);
  g_autofree char *t1_text = vml_token_encode (t1, source_key);
  g_autoptr(GBytes) t1_inner = as_inner (t1_text);
  g_autoptr(VmlToken) t2 = sample (VML_TOKEN_PREPARED, t1_inner);
  g_autofree char *t2_text = vml_token_encode (t2, dest_key);
  g_autoptr(VmlToken) got = vml_token_decode (t2_text, NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(VmlToken) mine = NULL, wrong_kind = NULL, foreign = NULL;

  g_assert_nonnull (got);
  /* The source finds its own begin token inside the destination's. */
  mine = vml_token_open_inner (got, source_key, VML_TOKEN_BEGUN, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (mine->transfer_id, ==, t1->transfer_id);
  /* Not when asked for another step's token... */
  wrong_kind = vml_token_open_inner (got, source_key, VML_TOKEN_PERFORMED, &error);
  g_assert_null (wrong_kind);
  g_assert_error (error, VML_ERROR, VML_ERROR_STALE_TOKEN);
  g_clear_error (&error);
  /* ...and another host's key does not recognise it. */
  foreign = vml_token_open_inner (got, other_key, VML_TOKEN_BEGUN, &error);
  g_assert_null (foreign);
  g_assert_error (error, VML_ERROR, VML_ERROR_STALE_TOKEN);
}

/* finish side by side with perform takes the destination's own prepare
 * token; the source then finds its begin token two levels down in the
 * finish token (vml-lease-transfer-base.c open_mine_in). */
static void
test_own_token_and_one_two_levels_down (void)
{
  g_autoptr(GBytes) source_key = key_of ('s'), dest_key = key_of ('d');
  g_autoptr(VmlToken) t1 = sample (VML_TOKEN_BEGUN, NULL);
  g_autofree char *t1_text = vml_token_encode (t1, source_key);
  g_autoptr(GBytes) t1_inner = as_inner (t1_text);
  g_autoptr(VmlToken) t2 = sample (VML_TOKEN_PREPARED, t1_inner);
  g_autofree char *t2_text = vml_token_encode (t2, dest_key);
  g_autoptr(GBytes) t2_inner = as_inner (t2_text);
  g_autoptr(VmlToken) t4 = sample (VML_TOKEN_FINISHED, t2_inner);
  g_autofree char *t4_text = vml_token_encode (t4, dest_key);
  g_autoptr(VmlToken) got2 = vml_token_decode (t2_text, NULL);
  g_autoptr(VmlToken) got4 = vml_token_decode (t4_text, NULL);
  g_autoptr(VmlToken) own = NULL, not_own = NULL, wrong_kind = NULL, peeked = NULL, begun = NULL;
  g_autoptr(GError) error = NULL;

  /* The destination knows its own prepare token handed back... */
  own = vml_token_open_own (got2, dest_key, VML_TOKEN_PREPARED, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (own->transfer_id, ==, t2->transfer_id);
  g_assert_cmpuint (own->dest_gen, ==, 7);
  /* ...not another host's, nor as another kind. */
  not_own = vml_token_open_own (got2, source_key, VML_TOKEN_PREPARED, &error);
  g_assert_null (not_own);
  g_assert_error (error, VML_ERROR, VML_ERROR_STALE_TOKEN);
  g_clear_error (&error);
  wrong_kind = vml_token_open_own (got2, dest_key, VML_TOKEN_PERFORMED, &error);
  g_assert_null (wrong_kind);
  g_assert_error (error, VML_ERROR, VML_ERROR_STALE_TOKEN);
  g_clear_error (&error);
  /* The source: finish's token carries prepare's, a claim it cannot check,
   * which carries its own begin token, which it can. */
  peeked = vml_token_peek_inner (got4, &error);
  g_assert_no_error (error);
  g_assert_cmpint (peeked->kind, ==, VML_TOKEN_PREPARED);
  begun = vml_token_open_inner (peeked, source_key, VML_TOKEN_BEGUN, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (begun->transfer_id, ==, t1->transfer_id);
  /* A begin token has nothing inside to peek at. */
  g_assert_null (vml_token_peek_inner (begun, &error));
  g_assert_error (error, VML_ERROR, VML_ERROR_STALE_TOKEN);
}

static void
test_forged_inner_is_refused (void)
{
  g_autoptr(GBytes) source_key = key_of ('s'), forger_key = key_of ('f');
  g_autoptr(VmlToken) t1 = sample (VML_TOKEN_BEGUN, NULL);
  g_autofree char *forged_t1 = NULL;
  g_autoptr(GBytes) inner = NULL;
  g_autoptr(VmlToken) t2 = NULL, got = NULL, opened = NULL;
  g_autofree char *t2_text = NULL;
  g_autoptr(GError) error = NULL;

  /* A begin token that claims another transfer, signed with some other key. */
  g_free (t1->transfer_id);
  t1->transfer_id = g_strdup ("ffffffffffffffffffffffffffffffff");
  forged_t1 = vml_token_encode (t1, forger_key);
  inner = as_inner (forged_t1);
  t2 = sample (VML_TOKEN_PREPARED, inner);
  t2_text = vml_token_encode (t2, forger_key);
  got = vml_token_decode (t2_text, NULL);
  opened = vml_token_open_inner (got, source_key, VML_TOKEN_BEGUN, &error);
  g_assert_null (opened);
  g_assert_error (error, VML_ERROR, VML_ERROR_STALE_TOKEN);
}

static void
test_key_is_made_once (void)
{
  g_autofree char *dir = g_dir_make_tmp ("vml-key-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "transfer.key", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) a = vml_token_load_key (dir, &error);
  g_autoptr(GBytes) b = vml_token_load_key (dir, &error);
  GStatBuf st;

  g_assert_no_error (error);
  g_assert_cmpuint (g_bytes_get_size (a), ==, 32);
  g_assert_true (g_bytes_equal (a, b));
  g_assert_cmpint (g_stat (path, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0600);
  g_unlink (path);
  g_rmdir (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/token/round-trip", test_round_trip);
  g_test_add_func ("/token/every-changed-byte-is-refused", test_every_changed_byte_is_refused);
  g_test_add_func ("/token/cut-and-garbage-are-refused", test_cut_and_garbage_are_refused);
  g_test_add_func ("/token/own-token-recognised-inside", test_own_token_recognised_inside);
  g_test_add_func ("/token/own-token-and-one-two-levels-down",
                   test_own_token_and_one_two_levels_down);
  g_test_add_func ("/token/forged-inner-is-refused", test_forged_inner_is_refused);
  g_test_add_func ("/token/key-is-made-once", test_key_is_made_once);
  return g_test_run ();
}
