/* vml-fault.c: the crash points of vml-fault.h. The variable is read once:
 * a point is on the lease path, where a getenv per call would be waste. */
#include "config.h"

#include <signal.h>
#include <unistd.h>

#include "vml-fault.h"
#include "vml-log.h"

static const char *
crash_point_wanted (void)
{
  static gsize once = 0;
  static const char *wanted = NULL;

  if (g_once_init_enter (&once))
    {
      wanted = g_getenv ("VMLEASE_CRASH_AT");
      g_once_init_leave (&once, 1);
    }
  return wanted;
}

void
vml_crash_point (const char *point)
{
  const char *wanted = crash_point_wanted ();

  if (wanted == NULL || g_strcmp0 (wanted, point) != 0)
    return;
  vml_log (G_LOG_LEVEL_WARNING, &(VmlLogAbout) { 0 },
           "crash point %s reached: killing vmleased (VMLEASE_CRASH_AT)", point);
  kill (getpid (), SIGKILL);
  _exit (137);   /* not reached: SIGKILL cannot be caught */
}
