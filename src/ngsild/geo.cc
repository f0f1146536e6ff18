#include "ngsild/geo.h"

namespace cityhub::ngsild {}  // namespace cityhub::ngsild
