/* vml-token.h: the tokens a migration hand-off passes between hosts.
 *
 * Each step's token says what that step did (lease, transfer id, hosts and
 * their generations, lease version) and carries the token it answered, as
 * issued. Each host signs what it issues with its own secret key (HMAC-
 * SHA256), so a host can tell its own earlier token inside the one it gets
 * back; the other side's claims are checked against storage instead. A
 * SHA-256 checksum over the whole token makes any changed, cut or added
 * byte show. On the wire: "vml1." followed by base64. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define VML_TOKEN_PREFIX  "vml1."

typedef enum {
  VML_TOKEN_BEGUN = 1,    /* from the source's begin */
  VML_TOKEN_PREPARED,     /* from the destination's prepare */
  VML_TOKEN_PERFORMED,    /* from the source's perform */
  VML_TOKEN_FINISHED,     /* from the destination's finish */
} VmlTokenKind;

typedef struct {
  VmlTokenKind kind;
  char        *uuid;
  char        *transfer_id;
  char        *lockspace;
  guint64      offset;       /* where the lease is */
  guint64      source;       /* host ids */
  guint64      source_gen;
  guint64      dest;         /* 0 in a BEGUN token */
  guint64      dest_gen;
  guint64      lver;         /* lease version when this step was done */
  gboolean     postcopy;     /* PERFORMED */
  gboolean     success;      /* FINISHED */
  GVariant    *disks;        /* a(ss) (key, mode): BEGUN: the source's disk leases,
                              * PREPARED: the destination's; NULL: none */
  GBytes      *inner;        /* the token this one answers, as issued; NULL in BEGUN */
  GBytes      *raw;          /* this token as issued (set by decode): what an answer carries */
} VmlToken;

void       vml_token_free        (VmlToken *token);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VmlToken, vml_token_free)

const char *vml_token_kind_name  (VmlTokenKind kind);

/* This host's secret: @state_dir/transfer.key, made (32 random bytes, 0600)
 * when missing. */
GBytes    *vml_token_load_key    (const char *state_dir, GError **error);

/* A fresh transfer id (128 random bits, hex). */
char      *vml_token_new_transfer_id (void);

/* Issues @token, signed with @key. */
char      *vml_token_encode      (const VmlToken *token, GBytes *key);

/* Parses a token from the other side. VML_ERROR_STALE_TOKEN for anything
 * that is not a whole, unchanged token of this version. Does not check any
 * signature (the other side's key is not ours). */
VmlToken  *vml_token_decode      (const char *text, GError **error);

/* The token @token answers, if it is one we issued (signed with @key) of
 * kind @kind; else VML_ERROR_STALE_TOKEN. */
VmlToken  *vml_token_open_inner  (const VmlToken *token, GBytes *key,
                                  VmlTokenKind kind, GError **error);

/* @token itself, if we issued it (signed with @key) and it is of @kind:
 * a host's own token handed back to it; else VML_ERROR_STALE_TOKEN. */
VmlToken  *vml_token_open_own    (const VmlToken *token, GBytes *key,
                                  VmlTokenKind kind, GError **error);

/* The token @token answers, as the other side claims it: parsed, its
 * signature not checked (it is not ours). Only a way to the token inside
 * it, which vml_token_open_inner then checks. */
VmlToken  *vml_token_peek_inner  (const VmlToken *token, GError **error);

G_END_DECLS
