/* vml-holder-protocol.c: the fence names of vml-holder-protocol.h, the one
 * table both vmleased and vmlease-holder read and write them with. Plain C. */
#include "config.h"

#include <string.h>

#include "vml-holder-protocol.h"

static const char *const fence_names[VML_FENCE_N] = {
  [VML_FENCE_NONE]  = "none",
  [VML_FENCE_KILL]  = "kill",
  [VML_FENCE_PAUSE] = "pause",
};

const char *
vml_fence_name (VmlFence fence)
{
  return (unsigned) fence < VML_FENCE_N ? fence_names[fence] : "";
}

int
vml_fence_from_name (const char *name, VmlFence *fence)
{
  for (unsigned i = 0; i < VML_FENCE_N; i++)
    if (strcmp (name, fence_names[i]) == 0)
      {
        *fence = (VmlFence) i;
        return 1;
      }
  return 0;
}
