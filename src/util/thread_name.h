// Names the calling thread (Linux: at most 15 characters, longer names are cut), so that
// `top -H`, `ps -L`, perf and debuggers show which part of the hub a thread belongs to.
#pragma once

#include <string_view>

namespace cityhub::util {

void NameThisThread(std::string_view name);

}  // namespace cityhub::util
