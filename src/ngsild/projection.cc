// Projection: the §4.21 grammar read by recursive descent over the list text, and the member
// filter applied to rendered entities.
//
// Names are compared as the rendered entity shows them (each picked name expanded with the
// reader's @context and compacted again, as RenderEntity names attributes), so one comparison
// per rendered member serves every representation. Linked Entity terms (`rel{attr}`) are parsed
// so that their errors are reported like any other, then refused: where the caller retrieves no
// Linked Entities, §5.7.1.4 and §5.7.2.4 make them BadRequestData (the entity API reads them
// into its Linked Entity projection before it gets here: api/linked_entities.h).
#include "ngsild/projection.h"

#include <fmt/format.h>

#include "ngsild/entity.h"

namespace cityhub::ngsild {
namespace json = boost::json;

namespace {

constexpr int kMaxDepth = 8;  // nested Linked Entity terms

bool IsDelimiter(char c) { return c == ',' || c == '|' || c == '{' || c == '}'; }

bool IsEntityMember(std::string_view name) { return name == "id" || name == "type" || name == "scope"; }

class ProjectionParser {
 public:
  ProjectionParser(std::string_view text, std::string_view param) : text_(text), param_(param) {}

  Result<ProjectionList> Parse() {
    ProjectionList out;
    if (text_.empty()) return Error("is empty");
    CITYHUB_RETURN_IF_ERROR(Term(0, &out));
    if (pos_ != text_.size()) return Error(fmt::format("unexpected '{}' at position {}", text_[pos_], pos_));
    return out;
  }

 private:
  Status Error(std::string_view what) const { return Status::BadRequestData(fmt::format("{}: {}", param_, what)); }

  // ProjectionTerm at `depth`; top-level names go into out->members.
  Status Term(int depth, ProjectionList* out) {
    for (;;) {
      size_t start = pos_;
      while (pos_ < text_.size() && !IsDelimiter(text_[pos_])) ++pos_;
      std::string_view name = text_.substr(start, pos_ - start);
      if (name.empty()) return Error(fmt::format("empty item at position {}", start));
      if (!IsValidName(name)) return Error(fmt::format("invalid name '{}'", name.substr(0, 64)));
      if (depth == 0) out->members.emplace_back(name);
      if (pos_ < text_.size() && text_[pos_] == '{') {
        if (depth + 1 >= kMaxDepth) return Error(fmt::format("more than {} nested levels", kMaxDepth - 1));
        out->linked = true;
        ++pos_;
        CITYHUB_RETURN_IF_ERROR(Term(depth + 1, out));
        if (pos_ >= text_.size() || text_[pos_] != '}') return Error(fmt::format("missing '}}' at position {}", pos_));
        ++pos_;
      }
      if (pos_ < text_.size() && (text_[pos_] == ',' || text_[pos_] == '|')) {
        ++pos_;
        continue;
      }
      return Status::Ok();
    }
  }

  std::string_view text_;
  std::string_view param_;
  size_t pos_ = 0;
};

// The lists' members, or nullopt when not given.
Result<std::optional<std::vector<std::string>>> Members(const std::optional<std::vector<std::string>>& items,
                                                        std::string_view name, std::string_view where) {
  if (!items) return std::optional<std::vector<std::string>>();
  std::string param = fmt::format("{}'{}'", where, name);
  if (items->empty()) return Status::BadRequestData(param + ": is empty");
  std::vector<std::string> members;
  for (const auto& item : *items) {
    auto list = ParseProjectionList(item, param);
    if (!list.ok()) return list.status();
    if (list->linked) {
      return Status::BadRequestData(fmt::format(
          "{}: '{}' names Linked Entity attributes, which this request cannot retrieve (no Linked Entity retrieval here)",
          param, item.substr(0, 64)));
    }
    members.insert(members.end(), list->members.begin(), list->members.end());
  }
  return std::optional<std::vector<std::string>>(std::move(members));
}

}  // namespace

Result<ProjectionList> ParseProjectionList(std::string_view text, std::string_view param) {
  return ProjectionParser(text, param).Parse();
}

Result<std::optional<Projection>> Projection::Make(const std::string* pick, const std::string* omit,
                                                   const Context& ctx, std::string_view where) {
  auto one = [](const std::string* text) {
    return text ? std::optional<std::vector<std::string>>(std::vector<std::string>{*text}) : std::nullopt;
  };
  return Make(one(pick), one(omit), ctx, where);
}

Result<std::optional<Projection>> Projection::Make(const std::optional<std::vector<std::string>>& pick,
                                                   const std::optional<std::vector<std::string>>& omit,
                                                   const Context& ctx, std::string_view where) {
  auto picked = Members(pick, "pick", where);
  if (!picked.ok()) return picked.status();
  auto omitted = Members(omit, "omit", where);
  if (!omitted.ok()) return omitted.status();
  if (!*picked && !*omitted) return std::optional<Projection>();
  Projection p;
  auto rendered_name = [&](const std::string& member) {
    return IsEntityMember(member) ? member : ctx.CompactIri(ctx.ExpandTerm(member));
  };
  if (*picked) {
    p.keep_.emplace();
    for (const auto& m : **picked) {
      p.keep_->insert(rendered_name(m));
      if (!IsEntityMember(m)) p.picked_attrs_.insert(ctx.ExpandTerm(m));
    }
  }
  if (*omitted) {
    for (const auto& m : **omitted) {
      std::string name = rendered_name(m);
      if (p.keep_ && p.keep_->count(name)) {
        return Status::BadRequestData(fmt::format("{}'pick' and 'omit' both name '{}'", where, m.substr(0, 64)));
      }
      p.drop_.insert(std::move(name));
    }
  }
  return std::optional<Projection>(std::move(p));
}

void Projection::Apply(json::object& rendered) const {
  for (auto it = rendered.begin(); it != rendered.end();) {
    std::string key(it->key());
    bool keep = (!keep_ || keep_->count(key)) && !drop_.count(key);
    it = keep ? std::next(it) : rendered.erase(it);
  }
}

}  // namespace cityhub::ngsild
