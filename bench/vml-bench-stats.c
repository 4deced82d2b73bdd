/* vml-bench-stats.c: see vml-bench-stats.h. */
#include "vml-bench-stats.h"

#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

void
vml_bench_series_init (VmlBenchSeries *s, const char *name, const char *what)
{
  memset (s, 0, sizeof *s);
  s->name = name;
  s->what = what;
  s->us = g_array_new (FALSE, FALSE, sizeof (double));
}

void
vml_bench_series_add (VmlBenchSeries *s, double us)
{
  g_array_append_val (s->us, us);
}

void
vml_bench_series_clear (VmlBenchSeries *s)
{
  g_clear_pointer (&s->us, g_array_unref);
}

static int
cmp_double (gconstpointer a, gconstpointer b)
{
  double x = *(const double *) a, y = *(const double *) b;

  return (x > y) - (x < y);
}

void
vml_bench_series_summarize (VmlBenchSeries *s)
{
  g_autoptr(GArray) sorted = NULL;
  double *v, sum = 0;
  guint n = s->us->len, rank;

  if (n == 0)
    return;
  sorted = g_array_copy (s->us);
  g_array_sort (sorted, cmp_double);
  v = (double *) sorted->data;
  for (guint i = 0; i < n; i++)
    sum += v[i];
  s->mean = sum / n;
  s->min = v[0];
  s->max = v[n - 1];
  rank = (guint) (0.9 * n + 0.999999);   /* nearest rank */
  s->p90 = v[CLAMP (rank, 1, n) - 1];
  s->median = (n % 2) ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

char *
vml_bench_machine_description (void)
{
  g_autofree char *cpuinfo = NULL;
  g_autofree char *model = NULL;
  struct utsname u;

  if (g_file_get_contents ("/proc/cpuinfo", &cpuinfo, NULL, NULL))
    {
      char *p = strstr (cpuinfo, "model name");

      if (p && (p = strchr (p, ':')))
        {
          char *end = strchr (p, '\n');

          model = g_strstrip (g_strndup (p + 1, end ? (gsize) (end - p - 1) : strlen (p + 1)));
        }
    }
  uname (&u);
  return g_strdup_printf ("%s, %ld CPUs, Linux %s", model ? model : "unknown CPU",
                          sysconf (_SC_NPROCESSORS_ONLN), u.release);
}

void
vml_bench_json_string (GString *out, const char *s)
{
  g_string_append_c (out, '"');
  for (; *s; s++)
    {
      if (*s == '"' || *s == '\\')
        g_string_append_printf (out, "\\%c", *s);
      else if ((unsigned char) *s < 0x20)
        g_string_append_printf (out, "\\u%04x", *s);
      else
        g_string_append_c (out, *s);
    }
  g_string_append_c (out, '"');
}
