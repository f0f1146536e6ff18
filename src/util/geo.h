// Distances on the Earth as a sphere (mean radius): the great-circle (haversine) distance the
// services use for "how far" — walking to a stop, a car park near a point, an on-demand ride.
// Accurate to about 0.5 % (the Earth is not a sphere); geo-queries use S2 instead.
#pragma once

#include <algorithm>
#include <cmath>

namespace cityhub::util {

inline constexpr double kEarthRadiusMetres = 6'371'008.8;  // the mean radius (IUGG)

// Metres between two points given in decimal degrees.
inline double GreatCircleMetres(double lat1, double lon1, double lat2, double lon2) {
  constexpr double kRad = M_PI / 180.0;
  const double dlat = (lat2 - lat1) * kRad;
  const double dlon = (lon2 - lon1) * kRad;
  const double h = std::sin(dlat / 2) * std::sin(dlat / 2) +
                   std::cos(lat1 * kRad) * std::cos(lat2 * kRad) * std::sin(dlon / 2) * std::sin(dlon / 2);
  return 2 * kEarthRadiusMetres * std::asin(std::min(1.0, std::sqrt(h)));
}

}  // namespace cityhub::util
