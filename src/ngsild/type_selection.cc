// TypeSelection: the §4.17 grammar read in one pass (it has one level of parentheses), and
// the match of an entity's types against the disjunction of conjunctions.
//
// The special characters "," ";" "(" ")" and "|" always separate: a type URI holding one of
// them cannot be named here (the spec's NOTE recommends short names for this reason).
#include "ngsild/type_selection.h"

#include <algorithm>

#include <fmt/format.h>

#include "ngsild/entity.h"

namespace cityhub::ngsild {

namespace {

bool IsSeparator(char c) { return c == ',' || c == '|' || c == ';' || c == '(' || c == ')'; }

class TypeParser {
 public:
  // `ctx` null: the types are expanded already (URIs).
  TypeParser(std::string_view text, const Context* ctx, std::string_view where)
      : text_(text), ctx_(ctx), where_(where) {}

  Result<std::vector<std::vector<std::string>>> Parse() {
    std::vector<std::vector<std::string>> out;
    if (text_.empty()) return Error("is empty");
    for (;;) {
      std::vector<std::string> element;
      if (pos_ < text_.size() && text_[pos_] == '(') {
        ++pos_;
        for (;;) {
          auto type = Type();
          if (!type.ok()) return type.status();
          element.push_back(std::move(*type));
          if (pos_ < text_.size() && text_[pos_] == ';') {
            ++pos_;
            continue;
          }
          break;
        }
        if (pos_ >= text_.size() || text_[pos_] != ')') return Error(fmt::format("missing ')' at position {}", pos_));
        ++pos_;
      } else {
        auto type = Type();
        if (!type.ok()) return type.status();
        element.push_back(std::move(*type));
      }
      std::sort(element.begin(), element.end());
      element.erase(std::unique(element.begin(), element.end()), element.end());
      out.push_back(std::move(element));
      if (pos_ == text_.size()) return out;
      if (text_[pos_] != ',' && text_[pos_] != '|') {
        return Error(fmt::format("unexpected '{}' at position {} (a conjunction needs parentheses: '(A;B)')", text_[pos_], pos_));
      }
      ++pos_;
    }
  }

 private:
  Status Error(std::string_view what) const {
    return Status::BadRequestData(fmt::format("{}: {}", where_, what));
  }

  Result<std::string> Type() {
    size_t start = pos_;
    while (pos_ < text_.size() && !IsSeparator(text_[pos_])) ++pos_;
    std::string_view name = text_.substr(start, pos_ - start);
    if (name.empty()) return Error(fmt::format("empty entity type at position {}", start));
    if (!ctx_) {
      if (!IsUri(name)) return Error(fmt::format("'{}' is not an expanded type", name.substr(0, 100)));
      return std::string(name);
    }
    if (!IsValidName(name) && !IsUri(name)) return Error(fmt::format("invalid entity type name '{}'", name.substr(0, 100)));
    return ctx_->ExpandTerm(std::string(name));
  }

  std::string_view text_;
  const Context* ctx_;
  std::string_view where_;
  size_t pos_ = 0;
};

}  // namespace

Result<TypeSelection> TypeSelection::Parse(std::string_view text, const Context& ctx, std::string_view where) {
  auto elements = TypeParser(text, &ctx, where).Parse();
  if (!elements.ok()) return elements.status();
  TypeSelection s;
  s.elements_ = std::move(*elements);
  return s;
}

Result<TypeSelection> TypeSelection::ParseExpanded(std::string_view text) {
  auto elements = TypeParser(text, nullptr, "type").Parse();
  if (!elements.ok()) return elements.status();
  TypeSelection s;
  s.elements_ = std::move(*elements);
  return s;
}

std::string TypeSelection::ToString(const std::function<std::string(const std::string&)>& name) const {
  std::string out;
  for (const auto& element : elements_) {
    if (!out.empty()) out += ',';
    if (element.size() == 1) {
      out += name(element.front());
      continue;
    }
    out += '(';
    for (size_t i = 0; i < element.size(); ++i) out += (i ? ";" : "") + name(element[i]);
    out += ')';
  }
  return out;
}

void TypeSelection::Add(const TypeSelection& other) {
  elements_.insert(elements_.end(), other.elements_.begin(), other.elements_.end());
}

bool TypeSelection::Matches(const std::vector<std::string>& types) const {
  auto has = [&](const std::string& t) { return std::find(types.begin(), types.end(), t) != types.end(); };
  return std::any_of(elements_.begin(), elements_.end(),
                     [&](const std::vector<std::string>& all) { return std::all_of(all.begin(), all.end(), has); });
}

std::vector<std::string> TypeSelection::IndexTypes() const {
  std::vector<std::string> out;
  for (const auto& element : elements_) out.push_back(element.front());
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

bool TypeSelection::IsPlainList() const {
  return std::all_of(elements_.begin(), elements_.end(), [](const auto& e) { return e.size() == 1; });
}

}  // namespace cityhub::ngsild
