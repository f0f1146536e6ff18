#include "ngsild/qlang.h"

namespace cityhub::ngsild {}  // namespace cityhub::ngsild
