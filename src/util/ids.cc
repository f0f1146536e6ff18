// RandomUuid: 122 bits from the OS's random source (getrandom), so ids cannot be guessed from
// one another; ids are made rarely (per subscription), so its cost does not matter.
#include "util/ids.h"

#include <cstdint>
#include <random>

#include <fmt/format.h>

namespace cityhub::util {

std::string RandomUuid() {
  std::random_device rd;
  auto word = [&rd] { return (uint64_t{rd()} << 32) | rd(); };
  uint64_t hi = word(), lo = word();
  hi = (hi & ~0xf000ULL) | 0x4000ULL;              // version 4
  lo = (lo & ~(0xc0ULL << 56)) | (0x80ULL << 56);  // variant 10
  return fmt::format("{:08x}-{:04x}-{:04x}-{:04x}-{:012x}", hi >> 32, (hi >> 16) & 0xffff, hi & 0xffff, lo >> 48,
                     lo & 0xffffffffffffULL);
}

}  // namespace cityhub::util
