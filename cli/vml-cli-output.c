/* vml-cli-output.c: JSON for scripts, aligned tables and plain values for
 * people. Human output is not a stable interface; --json is. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "vml-cli.h"

/* JSON is UTF-8 whatever the locale, so it bypasses g_print()'s charset
 * conversion. */
void
vml_cli_print_json (JsonNode *node,
                    gboolean  pretty)
{
  g_autoptr(JsonGenerator) generator = json_generator_new ();
  g_autofree char *text = NULL;

  json_generator_set_pretty (generator, pretty);
  json_generator_set_root (generator, node);
  text = json_generator_to_data (generator, NULL);
  fputs (text, stdout);
  fputc ('\n', stdout);
  fflush (stdout);
}

void
vml_cli_print_json_member (const char *key,
                           JsonNode   *value)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, key);
  json_builder_add_value (builder, value);
  json_builder_end_object (builder);
  root = json_builder_get_root (builder);
  vml_cli_print_json (root, TRUE);
}

void
vml_cli_print_json_strings (gboolean    pretty,
                            const char *first_key,
                            ...)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;
  va_list args;

  json_builder_begin_object (builder);
  va_start (args, first_key);
  for (const char *key = first_key; key != NULL; key = va_arg (args, const char *))
    vml_cli_json_add_string (builder, key, va_arg (args, const char *));
  va_end (args);
  json_builder_end_object (builder);
  root = json_builder_get_root (builder);
  vml_cli_print_json (root, pretty);
}

void
vml_cli_json_add_string (JsonBuilder *builder,
                         const char  *key,
                         const char  *value)
{
  if (value == NULL)
    return;
  json_builder_set_member_name (builder, key);
  json_builder_add_string_value (builder, value);
}

/* D-Bus property names become JSON keys: "HolderPid" → "holder_pid". */
char *
vml_cli_snake_case (const char *camel)
{
  GString *snake = g_string_new (NULL);

  for (const char *p = camel; *p != '\0'; p++)
    {
      if (g_ascii_isupper (*p) && p != camel && !g_ascii_isupper (p[-1]))
        g_string_append_c (snake, '_');
      g_string_append_c (snake, g_ascii_tolower (*p));
    }
  return g_string_free (snake, FALSE);
}

/* Adds each entry of an a{sv} of D-Bus properties to the object being built,
 * under its snake_case name. */
void
vml_cli_json_add_props (JsonBuilder *builder,
                        GVariant    *props)
{
  g_autoptr(GVariant) snake = g_variant_ref_sink (vml_cli_snake_props (props));
  GVariantIter iter;
  const char *name;
  GVariant *value;

  g_variant_iter_init (&iter, snake);
  while (g_variant_iter_loop (&iter, "{&sv}", &name, &value))
    {
      json_builder_set_member_name (builder, name);
      json_builder_add_value (builder, json_gvariant_serialize (value));
    }
}

/* (transfer floating): @props with snake_case keys. */
GVariant *
vml_cli_snake_props (GVariant *props)
{
  g_auto(GVariantBuilder) builder = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);
  GVariantIter iter;
  const char *key;
  GVariant *value;

  g_variant_iter_init (&iter, props);
  while (g_variant_iter_loop (&iter, "{&sv}", &key, &value))
    {
      g_autofree char *name = vml_cli_snake_case (key);

      g_variant_builder_add (&builder, "{sv}", name, value);
    }
  return g_variant_builder_end (&builder);
}

static char *
format_array (GVariant *array)
{
  g_autoptr(GPtrArray) items = g_ptr_array_new_with_free_func (g_free);
  gsize n = g_variant_n_children (array);

  if (n == 0)
    return g_strdup ("-");
  for (gsize i = 0; i < n; i++)
    {
      g_autoptr(GVariant) child = g_variant_get_child_value (array, i);

      g_ptr_array_add (items, vml_cli_format_value (child));
    }
  g_ptr_array_add (items, NULL);
  return g_strjoinv (", ", (char **) items->pdata);
}

/* A value as a person reads it: strings bare ("-" when empty), booleans
 * yes/no, arrays of simple values comma-separated, a{sv} as key=value. */
char *
vml_cli_format_value (GVariant *value)
{
  const GVariantType *type = g_variant_get_type (value);

  if (g_variant_type_equal (type, G_VARIANT_TYPE_VARIANT))
    {
      g_autoptr(GVariant) inner = g_variant_get_variant (value);
      return vml_cli_format_value (inner);
    }
  if (g_variant_type_equal (type, G_VARIANT_TYPE_STRING) ||
      g_variant_type_equal (type, G_VARIANT_TYPE_OBJECT_PATH))
    {
      const char *text = g_variant_get_string (value, NULL);
      return g_strdup (*text != '\0' ? text : "-");
    }
  if (g_variant_type_equal (type, G_VARIANT_TYPE_BOOLEAN))
    return g_strdup (g_variant_get_boolean (value) ? "yes" : "no");
  if (g_variant_type_equal (type, G_VARIANT_TYPE_VARDICT))
    return vml_cli_format_details (value);
  if (g_variant_type_is_array (type) &&
      g_variant_type_is_basic (g_variant_type_element (type)))
    return format_array (value);
  return g_variant_print (value, FALSE);
}

/* vml_cli_format_value(), shell-quoted if it holds blanks or quotes. */
static char *
format_quoted (GVariant *value)
{
  g_autofree char *shown = vml_cli_format_value (value);

  return strpbrk (shown, " \t'\"") ? g_shell_quote (shown) : g_steal_pointer (&shown);
}

/* "key=value key=value" for a{sv} details of a signal. */
char *
vml_cli_format_details (GVariant *asv)
{
  g_autoptr(GVariantIter) iter = g_variant_iter_new (asv);
  GString *text = g_string_new (NULL);
  const char *key;
  GVariant *value;

  while (g_variant_iter_loop (iter, "{&sv}", &key, &value))
    {
      g_autofree char *quoted = format_quoted (value);

      g_string_append_printf (text, "%s%s=%s", text->len ? " " : "", key, quoted);
    }
  return g_string_free (text, FALSE);
}

/* "/org/example/VMLease/vm/1b4e28ba_2fa1_…" → "1b4e28ba-2fa1-…"; NULL for
 * any other path. */
char *
vml_cli_uuid_from_path (const char *object_path)
{
  const char *tail;

  if (!g_str_has_prefix (object_path, VML_LEASE_PATH_PREFIX))
    return NULL;
  tail = object_path + strlen (VML_LEASE_PATH_PREFIX);
  if (*tail == '\0' || strchr (tail, '/') != NULL)
    return NULL;
  return g_strdelimit (g_strdup (tail), "_", '-');
}

/* ---- tables ------------------------------------------------------------ */

struct _VmlCliTable {
  guint      n_columns;
  GPtrArray *cells;      /* row-major, headers first */
};

VmlCliTable *
vml_cli_table_new (const char *first_header,
                   ...)
{
  VmlCliTable *table = g_new0 (VmlCliTable, 1);
  va_list args;

  table->cells = g_ptr_array_new_with_free_func (g_free);
  va_start (args, first_header);
  for (const char *h = first_header; h != NULL; h = va_arg (args, const char *))
    {
      g_ptr_array_add (table->cells, g_strdup (h));
      table->n_columns++;
    }
  va_end (args);
  return table;
}

/* Adds a row of exactly n_columns cells; NULL or "" shows as "-". */
void
vml_cli_table_add (VmlCliTable *table,
                   const char  *first_cell,
                   ...)
{
  va_list args;
  const char *cell = first_cell;

  va_start (args, first_cell);
  for (guint i = 0; i < table->n_columns; i++)
    {
      if (i > 0)
        cell = va_arg (args, const char *);
      g_ptr_array_add (table->cells, g_strdup (cell && *cell ? cell : "-"));
    }
  va_end (args);
}

void
vml_cli_table_print (VmlCliTable *table)
{
  g_autofree glong *widths = g_new0 (glong, table->n_columns);

  for (guint i = 0; i < table->cells->len; i++)
    {
      glong len = g_utf8_strlen (g_ptr_array_index (table->cells, i), -1);
      widths[i % table->n_columns] = MAX (widths[i % table->n_columns], len);
    }

  for (guint i = 0; i < table->cells->len; i++)
    {
      const char *cell = g_ptr_array_index (table->cells, i);
      guint column = i % table->n_columns;

      if (column + 1 == table->n_columns)
        g_print ("%s\n", cell);
      else
        g_print ("%s%*s", cell,
                 (int) (widths[column] - g_utf8_strlen (cell, -1) + 2), "");
    }
}

void
vml_cli_table_free (VmlCliTable *table)
{
  g_ptr_array_unref (table->cells);
  g_free (table);
}
