#include "ngsild/geo.h"

#include <gtest/gtest.h>
