// Rendering from the storage text: a scanner that locates JSON values without parsing them, and
// the three representations of render.cc written with it. Each function here mirrors its DOM
// counterpart in render.cc member for member (same order, same choices), so that both paths
// give the same text; stored_render_test.cc checks that on every Smart Data Model example.
#include "ngsild/stored_render.h"

#include <algorithm>
#include <charconv>
#include <cstring>

#include <boost/json.hpp>

#include "ngsild/parse.h"
#include "util/json.h"

namespace cityhub::ngsild {
namespace {

// The bytes that open or close something inside a JSON value.
struct Structural {
  bool is[256] = {};
  constexpr Structural() {
    for (unsigned char c : std::string_view("\"{}[]")) is[c] = true;
  }
};
constexpr Structural kStructural;

// Locates JSON values in a text. Trusts nothing: every step is bounds-checked and a malformed
// text makes the call return false (the caller reports it), never reads past the end.
class Scanner {
 public:
  explicit Scanner(std::string_view s) : s_(s) {}

  bool Eat(char c) {
    SkipSpace();
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }

  // A string token, quotes included.
  bool String(std::string_view* raw) {
    SkipSpace();
    if (i_ >= s_.size() || s_[i_] != '"') return false;
    const size_t begin = i_++;
    // The closing quote is the first one not escaped: memchr to each quote, then count the
    // backslashes before it (an odd number escapes it).
    while (i_ < s_.size()) {
      const void* q = std::memchr(s_.data() + i_, '"', s_.size() - i_);
      if (!q) break;
      const size_t at = static_cast<const char*>(q) - s_.data();
      size_t slashes = 0;
      while (at - slashes > begin + 1 && s_[at - slashes - 1] == '\\') ++slashes;
      i_ = at + 1;
      if (slashes % 2 == 0) {
        *raw = s_.substr(begin, i_ - begin);
        return true;
      }
    }
    i_ = s_.size();
    return false;
  }

  // Any value's text.
  bool Value(std::string_view* out) {
    SkipSpace();
    if (i_ >= s_.size()) return false;
    const size_t begin = i_;
    const char c = s_[i_];
    if (c == '"') return String(out);
    if (c == '{' || c == '[') {
      int depth = 0;
      const size_t n = s_.size();
      while (i_ < n) {
        // Most bytes of a value are neither quotes nor brackets: step over them in a tight loop.
        while (i_ < n && !kStructural.is[static_cast<unsigned char>(s_[i_])]) ++i_;
        if (i_ == n) break;
        const char d = s_[i_];
        if (d == '"') {
          std::string_view skipped;
          if (!String(&skipped)) return false;
          continue;
        }
        ++i_;
        if (d == '{' || d == '[') {
          ++depth;
        } else if (--depth == 0) {
          *out = s_.substr(begin, i_ - begin);
          return true;
        }
      }
      return false;
    }
    while (i_ < s_.size() && s_[i_] != ',' && s_[i_] != '}' && s_[i_] != ']' && !IsSpace(s_[i_])) ++i_;
    if (i_ == begin) return false;
    *out = s_.substr(begin, i_ - begin);
    return true;
  }

  bool AtEnd() {
    SkipSpace();
    return i_ == s_.size();
  }

 private:
  static bool IsSpace(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }
  void SkipSpace() {
    while (i_ < s_.size() && IsSpace(s_[i_])) ++i_;
  }

  std::string_view s_;
  size_t i_ = 0;
};

// Calls f(raw key, value text) for each member of the object `obj`; false if `obj` is not a
// well-formed object or f returns false.
template <typename F>
bool ForEachMember(std::string_view obj, F&& f) {
  Scanner sc(obj);
  if (!sc.Eat('{')) return false;
  if (sc.Eat('}')) return sc.AtEnd();
  for (;;) {
    std::string_view key, value;
    if (!sc.String(&key) || !sc.Eat(':') || !sc.Value(&value)) return false;
    if (!f(key, value)) return false;
    if (sc.Eat(',')) continue;
    return sc.Eat('}') && sc.AtEnd();
  }
}

// Calls f(item text) for each item of the array `arr`; false as above.
template <typename F>
bool ForEachItem(std::string_view arr, F&& f) {
  Scanner sc(arr);
  if (!sc.Eat('[')) return false;
  if (sc.Eat(']')) return sc.AtEnd();
  for (;;) {
    std::string_view item;
    if (!sc.Value(&item)) return false;
    if (!f(item)) return false;
    if (sc.Eat(',')) continue;
    return sc.Eat(']') && sc.AtEnd();
  }
}

// A string token's text between its quotes, escapes left as they are: enough to compare with
// keywords (which hold no escapable character).
std::string_view Inner(std::string_view raw) { return raw.substr(1, raw.size() - 2); }

bool IsString(std::string_view value) { return !value.empty() && value.front() == '"'; }
bool IsObject(std::string_view value) { return !value.empty() && value.front() == '{'; }
bool IsArray(std::string_view value) { return !value.empty() && value.front() == '['; }

// A string token's value, escapes decoded.
std::string Unescape(std::string_view raw) {
  std::string_view inner = Inner(raw);
  if (inner.find('\\') == std::string_view::npos) return std::string(inner);
  boost::system::error_code ec;
  boost::json::value v = util::ParseJson(raw, ec);
  return !ec && v.is_string() ? std::string(v.get_string()) : std::string(inner);
}

// An integer that fits int64 (what boost::json reads as one), else false.
bool Int64Of(std::string_view text, int64_t* out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && end == text.data() + text.size();
}

bool IsSysTime(std::string_view m) { return m == "createdAt" || m == "modifiedAt"; }

class Writer {
 public:
  Writer(const Context& ctx, const RenderOptions& opts) : ctx_(ctx), opts_(opts) {}

  // The entity (see render.cc RenderEntity).
  bool Entity(const StoredEntity& e, std::string& out) {
    out.append("{\"id\":");
    out.append(e.span(e.id_text));
    out.append(",\"type\":");
    if (e.types.size() == 1) {
      util::AppendJsonString(out, Compact(e.types.front()));
    } else {
      out.push_back('[');
      for (size_t i = 0; i < e.types.size(); ++i) {
        if (i) out.push_back(',');
        util::AppendJsonString(out, Compact(e.types[i]));
      }
      out.push_back(']');
    }
    if (e.scope.len) {
      out.append(",\"scope\":");
      out.append(e.span(e.scope));
    }
    if (e.expires_at != 0) {
      out.append(",\"expiresAt\":");
      util::AppendJsonString(out, util::FormatDateTime(e.expires_at, e.expires_fraction));
    }
    if (opts_.sys_attrs) {
      out.append(",\"createdAt\":");
      util::AppendJsonString(out, util::FormatDateTime(e.created_at));
      out.append(",\"modifiedAt\":");
      util::AppendJsonString(out, util::FormatDateTime(e.modified_at));
    }
    for (const auto& attr : e.attrs) {
      if (opts_.attrs && !opts_.attrs->count(attr.name)) continue;
      if (attr.empty) continue;
      out.push_back(',');
      util::AppendJsonString(out, NameOf(attr.name, false));
      out.push_back(':');
      if (!Instances(e.span(attr.instances), out)) return false;
    }
    out.push_back('}');
    return true;
  }

 private:
  // The compact form of `iri`: the cache's entry, or one made in `scratch_`. Valid until the next call.
  std::string_view Compact(std::string_view iri) {
    if (opts_.names) return opts_.names->Compact(iri, ctx_);
    scratch_ = ctx_.CompactIri(iri);
    return scratch_;
  }

  std::string_view NameOf(std::string_view iri, bool sub) {
    std::string_view name = Compact(iri);
    if (sub ? IsInstanceKeyword(name) : IsEntityKeyword(name)) return iri;
    return name;
  }

  // One attribute's instances: the instance, or an array when there are several.
  bool Instances(std::string_view arr, std::string& out) {
    std::vector<std::string_view> items;
    if (!ForEachItem(arr, [&](std::string_view item) {
          items.push_back(item);
          return IsObject(item);
        })) {
      return false;
    }
    if (items.size() == 1) return One(items.front(), false, out);
    out.push_back('[');
    for (size_t i = 0; i < items.size(); ++i) {
      if (i) out.push_back(',');
      if (!One(items[i], true, out)) return false;
    }
    out.push_back(']');
    return true;
  }

  bool One(std::string_view inst, bool multi, std::string& out) {
    switch (opts_.format) {
      case Format::kNormalized:
        return Normalized(inst, out);
      case Format::kConcise:
        return Concise(inst, multi, out);
      case Format::kKeyValues:
        return Simplified(inst, out);
    }
    return false;
  }

  void CompactVocab(std::string_view value, std::string& out) {
    if (IsString(value)) {
      util::AppendJsonString(out, Compact(Unescape(value)));
    } else if (IsArray(value)) {
      out.push_back('[');
      bool first = true;
      bool ok = ForEachItem(value, [&](std::string_view item) {
        if (!first) out.push_back(',');
        first = false;
        if (IsString(item)) {
          util::AppendJsonString(out, Compact(Unescape(item)));
        } else {
          out.append(item);
        }
        return true;
      });
      out.push_back(']');
      (void)ok;  // the array was located by the scanner, so its items are well-formed
    } else {
      out.append(value);
    }
  }

  static AttrType TypeOf(std::string_view inst) {
    AttrType type = AttrType::kProperty;
    ForEachMember(inst, [&](std::string_view key, std::string_view value) {
      if (Inner(key) != "type") return true;
      if (IsString(value)) {
        if (auto t = ParseAttrTypeName(Inner(value))) type = *t;
      }
      return false;
    });
    return type;
  }

  // render.cc Normalized.
  bool Normalized(std::string_view inst, std::string& out) {
    out.push_back('{');
    bool first = true;
    auto key_of = [&](std::string_view raw_key) {
      if (!first) out.push_back(',');
      first = false;
      out.append(raw_key);
      out.push_back(':');
    };
    bool ok = ForEachMember(inst, [&](std::string_view raw_key, std::string_view value) {
      std::string_view key = Inner(raw_key);
      int64_t ms = 0;
      if (IsSysTime(key)) {
        if (opts_.sys_attrs && Int64Of(value, &ms)) {
          key_of(raw_key);
          util::AppendJsonString(out, util::FormatDateTime(ms));
        }
      } else if (key == "vocab" || key == "objectType") {
        key_of(raw_key);
        CompactVocab(value, out);
      } else if (IsInstanceKeyword(key)) {
        key_of(raw_key);
        out.append(value);
      } else if (IsObject(value)) {
        if (!first) out.push_back(',');
        first = false;
        util::AppendJsonString(out, NameOf(Unescape(raw_key), true));
        out.push_back(':');
        return Normalized(value, out);
      }
      return true;
    });
    out.push_back('}');
    return ok;
  }

  // What parse.cc infers to be a GeoProperty value (render.cc LooksLikeGeometry).
  static bool LooksLikeGeometry(std::string_view value) {
    if (!IsObject(value)) return false;
    bool type = false, coordinates = false;
    ForEachMember(value, [&](std::string_view key, std::string_view v) {
      if (Inner(key) == "type" && !type) type = IsString(v);
      if (Inner(key) == "coordinates") coordinates = true;
      return true;
    });
    return type && coordinates;
  }

  // render.cc Concise: the members go to `body`; the value member's text is remembered so that
  // a bare value can be given instead of the object.
  bool Concise(std::string_view inst, bool force_object, std::string& out) {
    const AttrType type = TypeOf(inst);
    const std::string_view member = AttrValueMember(type);
    std::string body;
    size_t value_pos = 0, value_len = 0;
    bool has_value = false, extras = false;
    auto key_of = [&](std::string_view raw_key) {
      if (!body.empty()) body.push_back(',');
      body.append(raw_key);
      body.push_back(':');
    };
    bool ok = ForEachMember(inst, [&](std::string_view raw_key, std::string_view value) {
      std::string_view key = Inner(raw_key);
      int64_t ms = 0;
      if (key == "type") return true;
      if (IsSysTime(key)) {
        if (opts_.sys_attrs && Int64Of(value, &ms)) {
          key_of(raw_key);
          util::AppendJsonString(body, util::FormatDateTime(ms));
          extras = true;
        }
      } else if (key == member) {
        key_of(raw_key);
        value_pos = body.size();
        if (type == AttrType::kVocabProperty) {
          CompactVocab(value, body);
        } else {
          body.append(value);
        }
        value_len = body.size() - value_pos;
        has_value = true;
      } else if (key == "objectType") {
        key_of(raw_key);
        CompactVocab(value, body);
        extras = true;
      } else if (IsInstanceKeyword(key)) {
        key_of(raw_key);
        body.append(value);
        extras = true;
      } else if (IsObject(value)) {
        if (!body.empty()) body.push_back(',');
        util::AppendJsonString(body, NameOf(Unescape(raw_key), true));
        body.push_back(':');
        extras = true;
        return Concise(value, false, body);
      }
      return true;
    });
    if (!ok) return false;
    if (!has_value) {  // as the DOM's out[member]: a null member added last
      if (!body.empty()) body.push_back(',');
      util::AppendJsonString(body, member);
      body.push_back(':');
      value_pos = body.size();
      body.append("null");
      value_len = 4;
    }
    std::string_view v = std::string_view(body).substr(value_pos, value_len);
    if (!extras && !force_object) {
      if (type == AttrType::kGeoProperty || (type == AttrType::kProperty && !IsObject(v) && !IsArray(v))) {
        out.append(v);
        return true;
      }
    }
    out.push_back('{');
    out.append(body);
    if (type == AttrType::kProperty && LooksLikeGeometry(v)) out.append(",\"type\":\"Property\"");
    out.push_back('}');
    return true;
  }

  // render.cc Simplified / ValueOf.
  bool Simplified(std::string_view inst, std::string& out) {
    const AttrType type = TypeOf(inst);
    const std::string_view member = AttrValueMember(type);
    std::string_view value;
    bool found = false;
    ForEachMember(inst, [&](std::string_view key, std::string_view v) {
      if (Inner(key) != member) return true;
      value = v;
      found = true;
      return false;
    });
    if (!found) {
      out.append("null");
    } else if (type == AttrType::kVocabProperty) {
      CompactVocab(value, out);
    } else if (type == AttrType::kListRelationship && IsArray(value)) {
      out.push_back('[');
      bool first = true;
      ForEachItem(value, [&](std::string_view item) {
        if (!IsObject(item)) return true;
        ForEachMember(item, [&](std::string_view key, std::string_view object) {
          if (Inner(key) != "object") return true;
          if (!first) out.push_back(',');
          first = false;
          out.append(object);
          return false;
        });
        return true;
      });
      out.push_back(']');
    } else {
      out.append(value);
    }
    return true;
  }

  const Context& ctx_;
  const RenderOptions& opts_;
  std::string scratch_;
};

}  // namespace

Result<StoredEntity> StoredEntity::Read(std::string text) {
  StoredEntity e;
  e.text_ = std::move(text);
  const std::string_view all = e.text_;
  auto span_of = [&](std::string_view part) { return Span{static_cast<size_t>(part.data() - all.data()), part.size()}; };
  bool has_id = false, has_types = false, has_attrs = false, attrs_ok = true;
  bool ok = ForEachMember(all, [&](std::string_view raw_key, std::string_view value) {
    std::string_view key = Inner(raw_key);
    int64_t n = 0;
    if (key == "id" && IsString(value)) {
      e.id = Unescape(value);
      e.id_text = span_of(value);
      has_id = true;
    } else if (key == "type" && IsArray(value)) {
      has_types = ForEachItem(value, [&](std::string_view t) {
        if (IsString(t)) e.types.push_back(Unescape(t));
        return true;
      });
    } else if (key == "scope") {
      if (value != "null") e.scope = span_of(value);
    } else if (key == "owner" && IsString(value)) {
      e.owner = Unescape(value);
    } else if (key == "createdAt" && Int64Of(value, &n)) {
      e.created_at = n;
    } else if (key == "modifiedAt" && Int64Of(value, &n)) {
      e.modified_at = n;
    } else if (key == "expiresAt" && Int64Of(value, &n)) {
      e.expires_at = n;
    } else if (key == "expiresAtFraction" && IsArray(value)) {
      std::vector<int64_t> parts;
      ForEachItem(value, [&](std::string_view item) {
        int64_t part = 0;
        if (Int64Of(item, &part)) parts.push_back(part);
        return true;
      });
      if (parts.size() == 2) {
        e.expires_fraction = {static_cast<uint8_t>(parts[0]), static_cast<uint32_t>(parts[1])};
      }
    } else if (key == "attrs" && IsObject(value)) {
      has_attrs = true;
      attrs_ok = ForEachMember(value, [&](std::string_view name, std::string_view instances) {
        if (!IsArray(instances)) return false;
        Attribute a;
        a.name = Unescape(name);
        a.instances = span_of(instances);
        Scanner sc(instances);
        sc.Eat('[');
        a.empty = sc.Eat(']');
        e.attrs.push_back(std::move(a));
        return true;
      });
    }
    return true;
  });
  if (!ok || !attrs_ok) return Status::Internal("stored entity document is corrupt");
  if (!has_id || !has_types || !has_attrs) return Status::Internal("stored entity document lacks id, type or attrs");
  return e;
}

Result<Entity> StoredEntity::Decode(const std::vector<std::string>* only) const {
  Entity out;
  out.id = id;
  out.types = types;
  out.owner = owner;
  out.created_at = created_at;
  out.modified_at = modified_at;
  out.expires_at = expires_at;
  out.expires_fraction = expires_fraction;
  boost::system::error_code ec;
  boost::json::parse_options deep;
  deep.max_depth = kStoredMaxDepth;
  if (scope.len) {
    out.scope = util::ParseJson(span(scope), deep, ec);
    if (ec) return Status::Internal("stored entity document is corrupt");
  }
  for (const auto& attr : attrs) {
    if (only && std::find(only->begin(), only->end(), attr.name) == only->end()) continue;
    boost::json::value parsed = util::ParseJson(span(attr.instances), deep, ec);
    if (ec || !parsed.is_array()) return Status::Internal("stored entity document has a malformed attribute");
    Instances instances;
    instances.reserve(parsed.get_array().size());
    for (auto& inst : parsed.get_array()) {
      if (!inst.is_object()) return Status::Internal("stored entity document has a malformed attribute");
      instances.push_back(std::move(inst.get_object()));
    }
    out.attrs.emplace(attr.name, std::move(instances));
  }
  return out;
}

bool StoredEntity::HasAnyOf(const std::set<std::string>& names) const {
  for (const auto& a : attrs) {
    if (!a.empty && names.count(a.name)) return true;
  }
  return false;
}

Status RenderStored(const StoredEntity& e, const Context& ctx, const RenderOptions& opts, std::string* out) {
  const size_t before = out->size();
  Writer w(ctx, opts);
  if (!w.Entity(e, *out)) {
    out->resize(before);
    return Status::Internal("stored entity document has a malformed attribute");
  }
  return Status::Ok();
}

}  // namespace cityhub::ngsild
