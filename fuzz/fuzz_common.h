// Shared by the fuzz targets (fuzz/README.md): the core @context, offline, built once.
#pragma once

#include <string_view>

#include "ngsild/context.h"

namespace cityhub::fuzz {

inline const ngsild::Context& CoreContext() {
  static ngsild::ContextResolver* resolver = [] {
    ngsild::ContextResolverOptions o;
    o.allow_remote_fetch = false;
    return new ngsild::ContextResolver(o, {});
  }();
  static ngsild::ContextPtr core = resolver->Core();
  return *core;
}

inline std::string_view AsText(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

}  // namespace cityhub::fuzz
