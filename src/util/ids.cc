// RandomUuid: 122 bits from the OS's random source (getrandom), so ids cannot be guessed from
// one another; such ids are made rarely (per subscription), so its cost does not matter.
// FastUuid: one per notification, thousands a second: a per-thread 64-bit Mersenne twister.
#include "util/ids.h"

#include <cstdint>
#include <random>

#include <fmt/format.h>

namespace cityhub::util {

namespace {

std::string FormatUuid(uint64_t hi, uint64_t lo) {
  hi = (hi & ~0xf000ULL) | 0x4000ULL;              // version 4
  lo = (lo & ~(0xc0ULL << 56)) | (0x80ULL << 56);  // variant 10
  return fmt::format("{:08x}-{:04x}-{:04x}-{:04x}-{:012x}", hi >> 32, (hi >> 16) & 0xffff, hi & 0xffff, lo >> 48,
                     lo & 0xffffffffffffULL);
}

}  // namespace

std::string RandomUuid() {
  std::random_device rd;
  auto word = [&rd] { return (uint64_t{rd()} << 32) | rd(); };
  const uint64_t hi = word();
  return FormatUuid(hi, word());
}

std::string FastUuid() {
  thread_local std::mt19937_64 engine = [] {
    std::random_device rd;
    std::seed_seq seed{rd(), rd(), rd(), rd(), rd(), rd(), rd(), rd()};
    return std::mt19937_64(seed);
  }();
  const uint64_t hi = engine();
  return FormatUuid(hi, engine());
}

}  // namespace cityhub::util
