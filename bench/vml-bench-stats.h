/* vml-bench-stats.h: what the benchmark programs share: a series of
 * samples in microseconds and its summary, and a line about the machine. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
  const char *name;
  const char *what;
  GArray     *us;    /* of double */
  double      median, p90, mean, min, max;
} VmlBenchSeries;

void  vml_bench_series_init      (VmlBenchSeries *s, const char *name, const char *what);
void  vml_bench_series_add       (VmlBenchSeries *s, double us);
/* median, p90 (nearest rank), mean, min, max; all 0 without samples */
void  vml_bench_series_summarize (VmlBenchSeries *s);
void  vml_bench_series_clear     (VmlBenchSeries *s);

/* "<CPU model>, <n> CPUs, Linux <release>" */
char *vml_bench_machine_description (void);

/* Appends @s to @out as a JSON string, quoted and escaped. */
void  vml_bench_json_string         (GString *out, const char *s);

G_END_DECLS
