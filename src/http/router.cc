// Router: a flat table of routes scanned in order.
//
// The NGSI-LD API has a few dozen routes, so a linear scan over pre-split patterns is as fast as
// a trie in practice (one short comparison per segment, routes rejected early on segment count)
// and much easier to read. The path is split on '/' *before* decoding, so "%2F" inside an
// entity id stays inside its segment; each segment is then percent-decoded once and compared
// with literal pattern segments in decoded form.
//
// Precedence: among the patterns that match a path, the one with a literal segment at the
// first position where they differ wins ("/types/special" beats "/types/{type}"). The method is
// considered after the path: if the most specific pattern lacks the method but a less specific
// one has it, the less specific one is used; only when no matching pattern has the method is
// the answer kMethodNotAllowed, listing every method of every matching pattern.
//
// A trailing slash is dropped before matching: GS CIM 009 writes its resources "/entities/" and
// clients use both forms. Any other empty segment ("/entities//attrs/x") is not a path to any
// resource: kEmptySegment, which the API answers 400 rather than 404.

#include "http/router.h"

#include <algorithm>

namespace cityhub::http {
namespace {

bool IsPlaceholder(std::string_view segment) {
  return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}

// Splits "/a/b" into {"a", "b"}; "/" gives {""}. Returns false if `path` does not start with '/'.
bool SplitPath(std::string_view path, std::vector<std::string_view>* out) {
  if (path.empty() || path.front() != '/') return false;
  path.remove_prefix(1);
  for (;;) {
    size_t slash = path.find('/');
    out->push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) return true;
    path.remove_prefix(slash + 1);
  }
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// True if route `a` is more specific than route `b` (both match the same path).
bool MoreSpecific(const std::vector<bool>& a, const std::vector<bool>& b) {
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] != b[i]) return a[i];
  }
  return false;
}

}  // namespace

const std::string& PathParams::Get(std::string_view name) const {
  static const std::string kEmpty;
  for (const auto& [k, v] : items_) {
    if (k == name) return v;
  }
  return kEmpty;
}

bool PercentDecode(std::string_view in, bool plus_is_space, std::string* out) {
  out->clear();
  out->reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return false;
      int hi = HexValue(in[i + 1]);
      int lo = HexValue(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out->push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out->push_back(' ');
    } else {
      out->push_back(c);
    }
  }
  return true;
}

void Router::Add(std::string method, std::string pattern, RouteHandler handler) {
  Route route{std::move(method), std::move(pattern), {}, std::move(handler)};
  std::vector<std::string_view> parts;
  SplitPath(route.pattern, &parts);
  for (std::string_view part : parts) route.segments.emplace_back(part);
  routes_.push_back(std::move(route));
}

Router::Match Router::Find(std::string_view method, std::string_view path) const {
  Match match;
  std::vector<std::string_view> raw;
  if (!SplitPath(path, &raw)) return match;
  if (raw.size() > 1 && raw.back().empty()) raw.pop_back();
  if (std::find(raw.begin(), raw.end(), std::string_view()) != raw.end() && raw.size() > 1) {
    match.kind = MatchKind::kEmptySegment;
    return match;
  }
  std::vector<std::string> segments(raw.size());
  for (size_t i = 0; i < raw.size(); ++i) {
    if (!PercentDecode(raw[i], false, &segments[i]) ||
        segments[i].find('\0') != std::string::npos) {
      match.kind = MatchKind::kBadPath;
      return match;
    }
  }

  const Route* best = nullptr;
  std::vector<bool> best_literals;
  std::vector<bool> literals(segments.size());
  for (const Route& route : routes_) {
    if (route.segments.size() != segments.size()) continue;
    bool matches = true;
    for (size_t i = 0; i < segments.size() && matches; ++i) {
      literals[i] = !IsPlaceholder(route.segments[i]);
      matches = literals[i] ? route.segments[i] == segments[i] : !segments[i].empty();
    }
    if (!matches) continue;
    if (route.method != method) {
      if (std::find(match.allowed.begin(), match.allowed.end(), route.method) ==
          match.allowed.end()) {
        match.allowed.push_back(route.method);
      }
      continue;
    }
    if (best == nullptr || MoreSpecific(literals, best_literals)) {
      best = &route;
      best_literals = literals;
    }
  }

  if (best == nullptr) {
    match.kind = match.allowed.empty() ? MatchKind::kPathNotFound : MatchKind::kMethodNotAllowed;
    return match;
  }
  match.allowed.clear();
  match.kind = MatchKind::kFound;
  match.handler = &best->handler;
  match.pattern = best->pattern;
  for (size_t i = 0; i < segments.size(); ++i) {
    if (!best_literals[i]) {
      std::string_view name = best->segments[i];
      match.params.Add(std::string(name.substr(1, name.size() - 2)), std::move(segments[i]));
    }
  }
  return match;
}

}  // namespace cityhub::http
