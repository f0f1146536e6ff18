#include "ngsild/qlang.h"

#include <gtest/gtest.h>
