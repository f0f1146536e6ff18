// The q-language (GS CIM 009 §4.9) and the scope query language (§4.19).
//
// Design. Both languages are parsed once, by hand-written recursive descent, into a small tree
// (QNode / ScopeNode) that Matches() walks for each candidate entity. Parsing does all the work
// that does not depend on the entity: names are expanded with the request's @context, literals
// are typed (number, string, boolean, date, time, date-time; URIs are strings), and regular
// expressions are compiled once with RE2 under an explicit memory budget, so matching is linear
// in the text and a pattern such as (a+)+$ cannot stall a request. The grammar has no
// whitespace; every error is InvalidRequest "q: at position N: expected …, found …" with N the
// 0-based byte offset, so a client can point at the mistake.
//
// Bounded work. The text length is checked before anything else. The only recursion is on
// parentheses, and the depth is checked before each descent (QueryLimits::max_depth), so 10,000
// nested '(' stop at the limit instead of the stack's end; the evaluator recurses on the same
// (flattened) tree. Terms, list values, pattern size and regex memory are capped as well.
//
// Semantics (documented in docs/API.md). A term's path names an attribute, optionally
// sub-attributes (attr.sub), optionally a metadata member at the end (observedAt, unitCode,
// datasetId, createdAt, modifiedAt), optionally a trailing member path into the JSON value
// (attr[a.b], not expanded: it is a JSON member expression, §4.9) or a language of a
// LanguageProperty (attr[en], attr[*]). Without a path, a term compares the q value with the
// values ForEachComparable() yields, which is exactly what the store indexes. Values compare
// only with values of the same QValue::Kind: a number never equals a string, and the string
// "2020-01-01T00:00:00Z" only compares with a quoted string, not with a date-time literal.
// Every operator is existential over instances (any datasetId) and array elements: == needs
// one equal value; != needs an instance having the target and none of its values equal;
// >, >=, <, <= and ~= need one value that satisfies them; !~= needs an instance with strings
// none of which match. Patterns are searched (RE2 PartialMatch, like idPattern) in strings only.
// Per §4.9, a Relationship or ListRelationship target matches only == and !=.
//
// Index terms. Only top-level AND conjuncts on a plain attribute with ==, a range or an
// ordering operator are offered to the store; two bounds on the same attribute are not merged,
// because with several instances or array elements "a>5;a<3" can hold through different values.
#include "ngsild/qlang.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <iterator>

#include <boost/json.hpp>
#include <fmt/format.h>
#include <re2/re2.h>

#include "util/json.h"
#include "util/time.h"

namespace cityhub::ngsild {
namespace json = boost::json;

namespace {

using Kind = QValue::Kind;

constexpr std::string_view kNgsiLd = "https://uri.etsi.org/ngsi-ld/";
constexpr int64_t kMillisPerDay = 86'400'000;

// ---------------------------------------------------------------------------------------------
// Literals shared by q text and entity values.

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

std::optional<int> ReadNumber(std::string_view s) {
  if (s.empty() || !std::all_of(s.begin(), s.end(), IsDigit)) return std::nullopt;
  int v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

std::optional<QValue> DateTimeValue(std::string_view s) {
  if (s.find_first_of("Tt") == std::string_view::npos) return std::nullopt;
  auto ms = util::ParseDateTime(s);
  if (!ms) return std::nullopt;
  return QValue{Kind::kDateTime, static_cast<double>(*ms), {}};
}

// "YYYY-MM-DD" -> days since 1970-01-01.
std::optional<QValue> DateValue(std::string_view s) {
  if (s.size() != 10) return std::nullopt;
  auto ms = util::ParseDateTime(fmt::format("{}T00:00:00Z", s));
  if (!ms) return std::nullopt;
  return QValue{Kind::kDate, static_cast<double>(*ms / kMillisPerDay), {}};
}

// "hh:mm:ss", an optional fraction and an optional "Z" -> milliseconds since midnight.
std::optional<QValue> TimeValue(std::string_view s) {
  if (!s.empty() && (s.back() == 'Z' || s.back() == 'z')) s.remove_suffix(1);
  if (s.size() < 8 || s[2] != ':' || s[5] != ':') return std::nullopt;
  auto h = ReadNumber(s.substr(0, 2)), m = ReadNumber(s.substr(3, 2)), sec = ReadNumber(s.substr(6, 2));
  if (!h || !m || !sec || *h > 23 || *m > 59 || *sec > 60) return std::nullopt;
  int64_t ms = (*h * 3600 + *m * 60 + *sec) * 1000;
  if (s.size() > 8) {
    std::string_view frac = s.substr(9);
    if (s[8] != '.' || frac.empty() || frac.size() > 9 || !ReadNumber(frac)) return std::nullopt;
    for (size_t i = 0, scale = 100; i < frac.size() && scale > 0; ++i, scale /= 10) ms += (frac[i] - '0') * scale;
  }
  return QValue{Kind::kTime, static_cast<double>(ms), {}};
}

// A JSON number (RFC 8259 §6), the only number syntax q accepts.
bool IsJsonNumber(std::string_view s) {
  size_t i = 0;
  auto digits = [&] {
    size_t start = i;
    while (i < s.size() && IsDigit(s[i])) ++i;
    return i > start;
  };
  if (i < s.size() && s[i] == '-') ++i;
  if (i < s.size() && s[i] == '0') {
    ++i;
  } else if (!digits()) {
    return false;
  }
  if (i < s.size() && s[i] == '.' && (++i, !digits())) return false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    if (!digits()) return false;
  }
  return i == s.size();
}

// {"@type": "DateTime" | "Date" | "Time", "@value": text} -> the typed value.
std::optional<QValue> TypedValueObject(const json::object& o) {
  const auto* type = o.if_contains("@type");
  const auto* value = o.if_contains("@value");
  if (!type || !value || !type->is_string() || !value->is_string()) return std::nullopt;
  std::string_view t = type->get_string(), v = value->get_string();
  if (t == "DateTime") return DateTimeValue(v);
  if (t == "Date") return DateValue(v);
  if (t == "Time") return TimeValue(v);
  return std::nullopt;
}

void VisitScalar(const json::value& v, const std::function<void(const QValue&)>& visit) {
  if (v.is_bool()) {
    visit(QValue{Kind::kBoolean, v.get_bool() ? 1.0 : 0.0, {}});
  } else if (v.is_number()) {
    visit(QValue{Kind::kNumber, v.to_number<double>(), {}});
  } else if (v.is_string()) {
    visit(QValue{Kind::kString, 0, std::string(v.get_string())});
  } else if (v.is_object()) {
    if (auto typed = TypedValueObject(v.get_object())) visit(*typed);
  }
}

// A scalar, or each scalar element of an array (nested arrays give nothing).
void VisitScalars(const json::value& v, const std::function<void(const QValue&)>& visit) {
  if (!v.is_array()) return VisitScalar(v, visit);
  for (const auto& item : v.get_array()) {
    if (!item.is_array()) VisitScalar(item, visit);
  }
}

}  // namespace

void ForEachComparable(const Instance& inst, const std::function<void(const QValue&)>& visit) {
  const AttrType type = AttrTypeOf(inst);
  const json::value* v = inst.if_contains(AttrValueMember(type));
  if (!v) return;
  if (type == AttrType::kLanguageProperty && v->is_object()) {
    for (const auto& [lang, text] : v->get_object()) VisitScalars(text, visit);
  } else if (type == AttrType::kListRelationship && v->is_array()) {
    for (const auto& item : v->get_array()) {
      const json::value* object = item.is_object() ? item.get_object().if_contains("object") : &item;
      if (object) VisitScalar(*object, visit);
    }
  } else {
    VisitScalars(*v, visit);
  }
}

namespace {

// ---------------------------------------------------------------------------------------------
// The compiled q.

// Metadata members a path may end with (§4.9 example 8: temperature.observedAt>=…).
enum class Meta : uint8_t { kNone, kObservedAt, kUnitCode, kDatasetId, kCreatedAt, kModifiedAt };

constexpr std::pair<Meta, std::string_view> kMetaMembers[] = {
    {Meta::kObservedAt, "observedAt"}, {Meta::kUnitCode, "unitCode"},
    {Meta::kDatasetId, "datasetId"},   {Meta::kCreatedAt, "createdAt"},
    {Meta::kModifiedAt, "modifiedAt"},
};

Meta MetaOf(std::string_view iri) {
  if (!iri.starts_with(kNgsiLd)) return Meta::kNone;
  iri.remove_prefix(kNgsiLd.size());
  for (const auto& [meta, name] : kMetaMembers) {
    if (iri == name) return meta;
  }
  return Meta::kNone;
}

std::string_view MetaMember(Meta meta) {
  for (const auto& [m, name] : kMetaMembers) {
    if (m == meta) return name;
  }
  return "";
}

struct QPath {
  std::string attr;                  // expanded top-level attribute
  std::vector<std::string> subs;     // expanded sub-attribute names, outermost first
  Meta meta = Meta::kNone;           // a metadata member ending the path
  std::vector<std::string> members;  // the trailing [a.b] path, as written

  bool IsPlain() const { return subs.empty() && meta == Meta::kNone && members.empty(); }
};

enum class QOp : uint8_t { kExists, kNotExists, kEq, kNe, kGt, kGe, kLt, kLe, kMatch, kNoMatch };

struct QTerm {
  QPath path;
  QOp op = QOp::kExists;
  std::vector<QValue> values;           // == / != (one or a list); ordering operators (one)
  std::optional<QValue> lower, upper;   // == / != with a range a..b (inclusive)
  std::shared_ptr<const re2::RE2> pattern;  // ~= / !~=
};

}  // namespace

class QNode {
 public:
  enum class Kind : uint8_t { kTerm, kAnd, kOr };
  Kind kind = Kind::kTerm;
  QTerm term;                   // kTerm
  std::vector<QNode> children;  // kAnd, kOr: two or more, none of the same kind
};

class ScopeNode {
 public:
  enum class Kind : uint8_t { kPath, kAnyScope, kAnd, kOr };
  Kind kind = Kind::kPath;
  std::vector<std::string> levels;  // kPath: "+" matches any one level
  bool descendants = false;         // kPath ending in "/#": the scope and all below it
  std::vector<ScopeNode> children;  // kAnd, kOr
};

namespace {

// ---------------------------------------------------------------------------------------------
// Evaluation.

// What a term's path addresses in one instance of its attribute.
struct Target {
  bool exists = false;
  bool is_relationship = false;
  std::vector<QValue> values;
};

Target MetaTarget(const json::object& element, Meta meta) {
  Target t;
  const json::value* v = element.if_contains(MetaMember(meta));
  if (!v) return t;
  t.exists = true;
  if (v->is_number()) {  // createdAt / modifiedAt are kept as epoch milliseconds
    t.values.push_back(QValue{Kind::kDateTime, v->to_number<double>(), {}});
  } else if (v->is_string() && meta == Meta::kObservedAt) {
    if (auto at = DateTimeValue(v->get_string())) t.values.push_back(*at);
  } else if (v->is_string()) {
    t.values.push_back(QValue{Kind::kString, 0, std::string(v->get_string())});
  }
  return t;
}

// attr[en] / attr[*] on a LanguageProperty: the strings of that language, or of all.
Target LanguageTarget(const json::object& element, const std::vector<std::string>& members) {
  Target t;
  const json::value* map = element.if_contains("languageMap");
  if (members.size() != 1 || !map || !map->is_object()) return t;
  auto push = [&](const QValue& v) { t.values.push_back(v); };
  for (const auto& [lang, text] : map->get_object()) {
    if (members[0] != "*" && members[0] != lang) continue;
    t.exists = true;
    VisitScalars(text, push);
  }
  return t;
}

// attr[a.b]: the member a.b of the attribute's JSON value; absent if any step is missing.
Target MemberTarget(const json::object& element, const std::vector<std::string>& members) {
  const AttrType type = AttrTypeOf(element);
  if (type == AttrType::kLanguageProperty) return LanguageTarget(element, members);
  Target t;
  const json::value* v = element.if_contains(AttrValueMember(type));
  for (const auto& member : members) {
    if (!v || !v->is_object()) return t;
    v = v->get_object().if_contains(member);
  }
  if (!v) return t;
  t.exists = true;
  VisitScalars(*v, [&](const QValue& q) { t.values.push_back(q); });
  return t;
}

Target Resolve(const Instance& inst, const QPath& path) {
  const json::object* element = &inst;
  for (const auto& sub : path.subs) {
    const json::value* v = element->if_contains(sub);
    if (!v || !v->is_object()) return {};
    element = &v->get_object();
  }
  if (path.meta != Meta::kNone) return MetaTarget(*element, path.meta);
  if (!path.members.empty()) return MemberTarget(*element, path.members);
  Target t;
  t.exists = true;
  const AttrType type = AttrTypeOf(*element);
  t.is_relationship = type == AttrType::kRelationship || type == AttrType::kListRelationship;
  ForEachComparable(*element, [&](const QValue& v) { t.values.push_back(v); });
  return t;
}

// Negative, zero or positive; nullopt for values of different kinds, which never compare.
std::optional<int> Compare(const QValue& a, const QValue& b) {
  if (a.kind != b.kind) return std::nullopt;
  if (a.kind == Kind::kString) return a.text.compare(b.text);
  return a.number < b.number ? -1 : a.number > b.number ? 1 : 0;
}

bool EqualsTermValue(const QTerm& term, const QValue& v) {
  if (term.lower) {
    auto lo = Compare(v, *term.lower), hi = Compare(v, *term.upper);
    return lo && hi && *lo >= 0 && *hi <= 0;
  }
  return std::find(term.values.begin(), term.values.end(), v) != term.values.end();
}

bool Ordered(QOp op, const QValue& v, const QValue& bound) {
  auto c = Compare(v, bound);
  if (!c) return false;
  switch (op) {
    case QOp::kGt: return *c > 0;
    case QOp::kGe: return *c >= 0;
    case QOp::kLt: return *c < 0;
    default: return *c <= 0;
  }
}

bool PatternMatches(const QTerm& term, const QValue& v) {
  return v.kind == Kind::kString && re2::RE2::PartialMatch(v.text, *term.pattern);
}

bool Satisfies(const QTerm& term, const Target& t) {
  if (!t.exists) return false;
  auto any = [&](auto pred) { return std::any_of(t.values.begin(), t.values.end(), pred); };
  auto equal = [&](const QValue& v) { return EqualsTermValue(term, v); };
  auto matches = [&](const QValue& v) { return PatternMatches(term, v); };
  auto is_string = [](const QValue& v) { return v.kind == Kind::kString; };
  switch (term.op) {
    case QOp::kEq: return any(equal);
    case QOp::kNe: return !any(equal);
    case QOp::kMatch: return !t.is_relationship && any(matches);
    case QOp::kNoMatch: return !t.is_relationship && any(is_string) && !any(matches);
    case QOp::kExists:
    case QOp::kNotExists: return true;
    default:
      return !t.is_relationship &&
             any([&](const QValue& v) { return Ordered(term.op, v, term.values.front()); });
  }
}

bool TermMatches(const QTerm& term, const Entity& e) {
  const bool negated = term.op == QOp::kNotExists;
  auto it = e.attrs.find(term.path.attr);
  if (it == e.attrs.end()) return negated;
  for (const auto& inst : it->second) {
    if (Satisfies(term, Resolve(inst, term.path))) return !negated;
  }
  return negated;
}

bool NodeMatches(const QNode& node, const Entity& e) {
  auto matches = [&](const QNode& child) { return NodeMatches(child, e); };
  switch (node.kind) {
    case QNode::Kind::kAnd: return std::all_of(node.children.begin(), node.children.end(), matches);
    case QNode::Kind::kOr: return std::any_of(node.children.begin(), node.children.end(), matches);
    default: return TermMatches(node.term, e);
  }
}

// ---------------------------------------------------------------------------------------------
// Parsing: what q and scopeQ share.

// The position in the text, error messages that name it, and the limits both languages obey.
class Cursor {
 protected:
  Cursor(std::string_view text, std::string_view language, const QueryLimits& limits)
      : text_(text), limits_(limits), language_(language) {}

  bool AtEnd() const { return pos_ >= text_.size(); }
  char Peek(size_t ahead = 0) const { return pos_ + ahead < text_.size() ? text_[pos_ + ahead] : '\0'; }
  bool Consume(std::string_view token) {
    if (!text_.substr(pos_).starts_with(token)) return false;
    pos_ += token.size();
    return true;
  }

  Status Invalid(size_t pos, std::string_view what) const {
    return Status::InvalidRequest(fmt::format("{}: at position {}: {}", language_, pos, what));
  }
  Status Expected(size_t pos, std::string_view what) const {
    return Invalid(pos, fmt::format("expected {}, found {}", what, Found(pos)));
  }
  Status TooComplex(size_t pos, std::string_view what) const {
    return Status::TooComplexQuery(fmt::format("{}: at position {}: {}", language_, pos, what));
  }

  Status CheckLength() const {
    if (text_.size() <= limits_.max_length) return Status::Ok();
    return Status::TooComplexQuery(fmt::format("{}: {} bytes, longer than the limit of {} bytes (max_length)",
                                               language_, text_.size(), limits_.max_length));
  }
  // Called on '(' before descending into the group.
  Status EnterGroup(size_t pos) {
    if (++depth_ <= limits_.max_depth) return Status::Ok();
    return TooComplex(pos, fmt::format("parentheses nested deeper than {} (max_depth)", limits_.max_depth));
  }
  void LeaveGroup() { --depth_; }
  Status CountTerm(size_t pos) {
    if (++terms_ <= limits_.max_terms) return Status::Ok();
    return TooComplex(pos, fmt::format("more than {} terms (max_terms)", limits_.max_terms));
  }

  std::string_view text_;
  size_t pos_ = 0;
  const QueryLimits& limits_;

 private:
  // A short quote of the text at `pos` (cut at a UTF-8 boundary), or "the end of the query".
  std::string Found(size_t pos) const {
    if (pos >= text_.size()) return "the end of the query";
    constexpr size_t kMax = 16;
    size_t n = std::min(kMax, text_.size() - pos);
    while (pos + n < text_.size() && n > 1 && (static_cast<unsigned char>(text_[pos + n]) & 0xC0) == 0x80) --n;
    return fmt::format("'{}{}'", text_.substr(pos, n), pos + n < text_.size() ? "…" : "");
  }

  std::string_view language_;
  size_t depth_ = 0;
  size_t terms_ = 0;
};

bool IsLetter(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || static_cast<unsigned char>(c) >= 0x80;
}
bool IsNameChar(char c) { return IsLetter(c) || IsDigit(c) || c == '_' || c == '-'; }

// ---------------------------------------------------------------------------------------------
// Parsing q.

// A literal as written: its value and which grammar rule it came from, which decides where it
// may appear (ranges and ordering operators take comparable values only).
struct Literal {
  enum class Form : uint8_t { kComparable, kBoolean, kUri };
  QValue value;
  Form form = Form::kComparable;
  size_t pos = 0;
};

constexpr std::string_view kOperators =
    "an operator (==, !=, >, >=, <, <=, ~=, !~=), ';', '|', ')' or the end of the query";
constexpr std::string_view kValueKinds =
    "(a number, a \"quoted string\", true, false, a date, time or date-time, or a URI)";
constexpr std::string_view kComparableValue =
    "a number, a \"quoted string\", a date, a time or a date-time";

class QParser : public Cursor {
 public:
  QParser(std::string_view text, const Context& ctx, const QueryLimits& limits)
      : Cursor(text, "q", limits), ctx_(ctx) {}

  Result<QNode> ParseQuery() {
    CITYHUB_RETURN_IF_ERROR(CheckLength());
    auto root = ParseOr();
    if (!root.ok()) return root;
    if (Peek() == ')') return Invalid(pos_, "')' without a matching '('");
    if (!AtEnd()) return Expected(pos_, "';', '|' or the end of the query");
    return root;
  }

 private:
  // Joins parts with AND or OR, splicing in children of the same kind: (a;b);c is a;b;c.
  static QNode Combine(QNode::Kind kind, std::vector<QNode> parts) {
    if (parts.size() == 1) return std::move(parts.front());
    QNode node;
    node.kind = kind;
    for (auto& part : parts) {
      if (part.kind == kind) {
        std::move(part.children.begin(), part.children.end(), std::back_inserter(node.children));
      } else {
        node.children.push_back(std::move(part));
      }
    }
    return node;
  }

  // ';' binds tighter than '|' (§4.9).
  Result<QNode> ParseOr() { return ParseList(QNode::Kind::kOr, '|'); }
  Result<QNode> ParseAnd() { return ParseList(QNode::Kind::kAnd, ';'); }

  Result<QNode> ParseList(QNode::Kind kind, char separator) {
    std::vector<QNode> parts;
    do {
      auto part = kind == QNode::Kind::kOr ? ParseAnd() : ParseFactor();
      if (!part.ok()) return part;
      parts.push_back(std::move(*part));
    } while (Consume(std::string_view(&separator, 1)));
    return Combine(kind, std::move(parts));
  }

  Result<QNode> ParseFactor() {
    const size_t open = pos_;
    if (!Consume("(")) return ParseTerm();
    CITYHUB_RETURN_IF_ERROR(EnterGroup(open));
    auto inner = ParseOr();
    if (!inner.ok()) return inner;
    if (!Consume(")")) return Expected(pos_, fmt::format("';', '|' or ')' to close the '(' at position {}", open));
    LeaveGroup();
    return inner;
  }

  Result<QNode> ParseTerm() {
    CITYHUB_RETURN_IF_ERROR(CountTerm(pos_));
    QNode node;
    QTerm& term = node.term;
    const bool negated = Consume("!");
    CITYHUB_RETURN_IF_ERROR(ParsePath(&term.path));
    if (negated) {
      term.op = QOp::kNotExists;
      return AtTermEnd() ? Result<QNode>(std::move(node))
                         : Expected(pos_, "';', '|', ')' or the end of the query after '!attribute'");
    }
    if (Peek() == '{') {
      return Status::NotSupported(fmt::format(
          "q: at position {}: linked-entity paths (attr{{…}}, §4.9) are not supported", pos_));
    }
    if (AtTermEnd()) return node;  // existence
    const size_t op_pos = pos_;
    auto op = ParseOperator();
    if (!op) return Expected(op_pos, kOperators);
    term.op = *op;
    Status st = term.op == QOp::kMatch || term.op == QOp::kNoMatch ? ParsePattern(&term)
                                                                  : ParseOperand(op_pos, &term);
    if (!st.ok()) return st;
    if (!AtTermEnd()) return Expected(pos_, "';', '|', ')' or the end of the query");
    return node;
  }

  bool AtTermEnd() const { return AtEnd() || Peek() == ';' || Peek() == '|' || Peek() == ')'; }

  // Attribute ('.' Name)* ('[' Member ('.' Member)* ']')?
  Status ParsePath(QPath* path) {
    auto first = ParseName("an attribute name");
    if (!first.ok()) return first.status();
    path->attr = ctx_.ExpandTerm(*first);
    while (path->meta == Meta::kNone && Consume(".")) {
      auto name = ParseName("a sub-attribute name");
      if (!name.ok()) return name.status();
      std::string iri = ctx_.ExpandTerm(*name);
      path->meta = MetaOf(iri);
      if (path->meta == Meta::kNone) path->subs.push_back(std::move(iri));
    }
    if (path->meta != Meta::kNone && (Peek() == '.' || Peek() == '[')) {
      return Invalid(pos_, fmt::format("'{}' is a metadata member: nothing may follow it in the path",
                                       MetaMember(path->meta)));
    }
    return Consume("[") ? ParseMembers(path) : Status::Ok();
  }

  Status ParseMembers(QPath* path) {
    do {
      const size_t start = pos_;
      if (Consume("*")) {
        path->members.emplace_back("*");
        continue;
      }
      while (IsNameChar(Peek()) || Peek() == '@' || Peek() == ':') ++pos_;
      if (pos_ == start) return Expected(start, "a member name or '*' inside '[…]'");
      path->members.emplace_back(text_.substr(start, pos_ - start));
    } while (Consume("."));
    return Consume("]") ? Status::Ok() : Expected(pos_, "'.' or ']'");
  }

  // unicodeLetter *(unicodeLetter / unicodeNumber / '_' / '-'), optionally prefix:name.
  Result<std::string_view> ParseName(std::string_view what) {
    const size_t start = pos_;
    if (!IsLetter(Peek())) return Expected(start, what);
    while (IsNameChar(Peek()) || (Peek() == ':' && IsLetter(Peek(1)))) ++pos_;
    return text_.substr(start, pos_ - start);
  }

  std::optional<QOp> ParseOperator() {
    constexpr std::pair<std::string_view, QOp> kOps[] = {
        {"==", QOp::kEq}, {"!~=", QOp::kNoMatch}, {"!=", QOp::kNe}, {">=", QOp::kGe},
        {">", QOp::kGt},  {"<=", QOp::kLe},       {"<", QOp::kLt},  {"~=", QOp::kMatch}};
    for (const auto& [token, op] : kOps) {
      if (Consume(token)) return op;
    }
    return std::nullopt;
  }

  // A value, a range a..b or a list a,b,c after the operator at `op_pos`.
  Status ParseOperand(size_t op_pos, QTerm* term) {
    const std::string_view op_text = text_.substr(op_pos, pos_ - op_pos);
    auto first = ParseLiteral(op_text);
    if (!first.ok()) return first.status();
    const bool equality = term->op == QOp::kEq || term->op == QOp::kNe;
    if (Consume("..")) {
      if (!equality) return Invalid(first->pos, fmt::format("a range a..b is not allowed after '{}'", op_text));
      return ParseRange(*first, term);
    }
    if (Peek() == ',') {
      if (!equality) return Invalid(pos_, fmt::format("a value list a,b is not allowed after '{}'", op_text));
      return ParseValueList(*first, term);
    }
    if (!equality && first->form != Literal::Form::kComparable) {
      return Expected(first->pos, fmt::format("{} after '{}'", kComparableValue, op_text));
    }
    term->values.push_back(std::move(first->value));
    return Status::Ok();
  }

  Status ParseRange(Literal lower, QTerm* term) {
    auto upper = ParseLiteral("..");
    if (!upper.ok()) return upper.status();
    for (const Literal* bound : {&lower, &*upper}) {
      if (bound->form != Literal::Form::kComparable) {
        return Expected(bound->pos, fmt::format("{} as a range bound", kComparableValue));
      }
    }
    if (lower.value.kind != upper->value.kind) {
      return Invalid(upper->pos, "both bounds of a range must be of the same kind");
    }
    term->lower = std::move(lower.value);
    term->upper = std::move(upper->value);
    return Status::Ok();
  }

  Status ParseValueList(Literal first, QTerm* term) {
    term->values.push_back(std::move(first.value));
    while (Consume(",")) {
      if (term->values.size() >= limits_.max_list_values) {
        return TooComplex(pos_, fmt::format("more than {} values in a list (max_list_values)",
                                            limits_.max_list_values));
      }
      auto next = ParseLiteral(",");
      if (!next.ok()) return next.status();
      term->values.push_back(std::move(next->value));
    }
    return Status::Ok();
  }

  // The literal after the token `after` (an operator, ".." or ",").
  Result<Literal> ParseLiteral(std::string_view after) {
    const size_t start = pos_;
    if (Peek() == '"') {
      auto text = ParseQuotedString();
      if (!text.ok()) return text.status();
      return Literal{QValue{Kind::kString, 0, std::move(*text)}, Literal::Form::kComparable, start};
    }
    while (!AtEnd() && std::string_view(";|), \t\r\n").find(Peek()) == std::string_view::npos &&
           !(Peek() == '.' && Peek(1) == '.')) {
      ++pos_;
    }
    return ClassifyBare(text_.substr(start, pos_ - start), start, after);
  }

  // An unquoted literal: true/false, a JSON number, a date-time, date or time, or a URI.
  Result<Literal> ClassifyBare(std::string_view token, size_t pos, std::string_view after) const {
    using Form = Literal::Form;
    const std::string expected = fmt::format("a value after '{}' {}", after, kValueKinds);
    if (token.empty()) return Expected(pos, expected);
    if (token == "true" || token == "false") {
      return Literal{QValue{Kind::kBoolean, token == "true" ? 1.0 : 0.0, {}}, Form::kBoolean, pos};
    }
    if (IsJsonNumber(token)) return NumberLiteral(token, pos);
    for (auto parse : {DateTimeValue, DateValue, TimeValue}) {
      if (auto v = parse(token)) return Literal{std::move(*v), Form::kComparable, pos};
    }
    if (IsDigit(token.front())) {
      return Invalid(pos, fmt::format("'{}' is neither a number nor a valid date, time or date-time", token));
    }
    if (IsUri(token)) return Literal{QValue{Kind::kString, 0, std::string(token)}, Form::kUri, pos};
    return Expected(pos, expected);
  }

  Result<Literal> NumberLiteral(std::string_view token, size_t pos) const {
    double v = 0;
    auto [end, err] = std::from_chars(token.data(), token.data() + token.size(), v);
    if (err != std::errc() || end != token.data() + token.size() || !std::isfinite(v)) {
      return Invalid(pos, fmt::format("number '{}' is out of the range of a double", token));
    }
    return Literal{QValue{Kind::kNumber, v, {}}, Literal::Form::kComparable, pos};
  }

  // A JSON string (RFC 8259 §7), decoded; the text is at its opening quote.
  Result<std::string> ParseQuotedString() {
    const size_t start = pos_;
    size_t i = start + 1;
    while (i < text_.size() && text_[i] != '"') i += text_[i] == '\\' ? 2 : 1;
    if (i >= text_.size()) {
      return Invalid(text_.size(), fmt::format("expected '\"' to close the string opened at position {}", start));
    }
    boost::system::error_code ec;
    json::value v = util::ParseJson(text_.substr(start, i + 1 - start), ec);
    if (ec || !v.is_string()) {
      return Invalid(start, "not a valid JSON string (control characters must be escaped; escapes are "
                            "\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)");
    }
    pos_ = i + 1;
    return std::string(v.get_string());
  }

  // A quoted string, or the text up to ';', '|' or an unbalanced ')' outside brackets.
  Status ParsePattern(QTerm* term) {
    const size_t start = pos_;
    std::string pattern;
    if (Peek() == '"') {
      auto quoted = ParseQuotedString();
      if (!quoted.ok()) return quoted.status();
      pattern = std::move(*quoted);
    } else {
      pos_ = BarePatternEnd();
      pattern = text_.substr(start, pos_ - start);
    }
    if (pattern.empty()) return Expected(start, "a regular expression");
    return CompilePattern(pattern, start, term);
  }

  size_t BarePatternEnd() const {
    size_t i = pos_;
    int depth = 0;
    bool in_class = false;
    while (i < text_.size()) {
      const char c = text_[i];
      if (c == '\\') {
        i += 2;
        continue;
      }
      if (in_class) {
        in_class = c != ']';
      } else if (c == '[') {
        in_class = true;
        if (i + 1 < text_.size() && text_[i + 1] == '^') ++i;
        if (i + 1 < text_.size() && text_[i + 1] == ']') ++i;  // a leading ']' is literal
      } else if (c == '(') {
        ++depth;
      } else if (c == ')') {
        if (depth == 0) break;
        --depth;
      } else if ((c == ';' || c == '|') && depth == 0) {
        break;
      }
      ++i;
    }
    return std::min(i, text_.size());
  }

  Status CompilePattern(const std::string& pattern, size_t pos, QTerm* term) const {
    if (pattern.size() > limits_.max_pattern_bytes) {
      return TooComplex(pos, fmt::format("a pattern of {} bytes, longer than {} (max_pattern_bytes)",
                                         pattern.size(), limits_.max_pattern_bytes));
    }
    re2::RE2::Options options;
    options.set_max_mem(limits_.max_regex_memory);
    options.set_log_errors(false);
    options.set_never_capture(true);
    auto re = std::make_shared<const re2::RE2>(pattern, options);
    if (re->error_code() == re2::RE2::ErrorPatternTooLarge) {
      return TooComplex(pos, fmt::format("the pattern needs more than {} bytes of memory (max_regex_memory)",
                                         limits_.max_regex_memory));
    }
    if (!re->ok()) return Invalid(pos, fmt::format("invalid regular expression: {}", re->error()));
    term->pattern = std::move(re);
    return Status::Ok();
  }

  const Context& ctx_;
};

// ---------------------------------------------------------------------------------------------
// What a compiled q tells the store.

std::optional<QIndexTerm> IndexTermOf(const QTerm& term) {
  if (!term.path.IsPlain()) return std::nullopt;
  QIndexTerm out;
  out.attr = term.path.attr;
  switch (term.op) {
    case QOp::kEq: {
      if (term.lower) {
        out.lower = term.lower;
        out.upper = term.upper;
        return out;
      }
      auto other_kind = [&](const QValue& v) { return v.kind != term.values.front().kind; };
      if (std::any_of(term.values.begin(), term.values.end(), other_kind)) return std::nullopt;
      out.values = term.values;
      return out;
    }
    case QOp::kGt:
    case QOp::kGe:
      out.lower = term.values.front();
      out.lower_inclusive = term.op == QOp::kGe;
      return out;
    case QOp::kLt:
    case QOp::kLe:
      out.upper = term.values.front();
      out.upper_inclusive = term.op == QOp::kLe;
      return out;
    default:
      return std::nullopt;
  }
}

std::vector<QIndexTerm> IndexTermsOf(const QNode& root) {
  std::vector<QIndexTerm> terms;
  auto add = [&](const QNode& node) {
    if (node.kind != QNode::Kind::kTerm) return;
    if (auto t = IndexTermOf(node.term)) terms.push_back(std::move(*t));
  };
  if (root.kind == QNode::Kind::kAnd) {
    std::for_each(root.children.begin(), root.children.end(), add);
  } else {
    add(root);
  }
  return terms;
}

void CollectAttributes(const QNode& node, std::vector<std::string>* out) {
  if (node.kind != QNode::Kind::kTerm) {
    for (const auto& child : node.children) CollectAttributes(child, out);
  } else if (std::find(out->begin(), out->end(), node.term.path.attr) == out->end()) {
    out->push_back(node.term.path.attr);
  }
}

// ---------------------------------------------------------------------------------------------
// Scope queries (§4.19): ScopesQ = OrScopeQ *(('|' / ',') OrScopeQ) / "/#", with ';' for AND
// inside parentheses. Accepted more generally: ';' and '|' combine any parts, with ';' binding
// tighter, as in q.

class ScopeParser : public Cursor {
 public:
  ScopeParser(std::string_view text, const QueryLimits& limits) : Cursor(text, "scopeQ", limits) {}

  Result<ScopeNode> ParseQuery() {
    CITYHUB_RETURN_IF_ERROR(CheckLength());
    auto root = ParseOr();
    if (!root.ok()) return root;
    if (Peek() == ')') return Invalid(pos_, "')' without a matching '('");
    if (!AtEnd()) return Expected(pos_, "';', '|', ',' or the end of the query");
    return root;
  }

 private:
  Result<ScopeNode> ParseOr() {
    std::vector<ScopeNode> parts;
    do {
      auto part = ParseAnd();
      if (!part.ok()) return part;
      parts.push_back(std::move(*part));
    } while (Consume("|") || Consume(","));
    return Combine(ScopeNode::Kind::kOr, std::move(parts));
  }

  Result<ScopeNode> ParseAnd() {
    std::vector<ScopeNode> parts;
    do {
      auto part = ParseFactor();
      if (!part.ok()) return part;
      parts.push_back(std::move(*part));
    } while (Consume(";"));
    return Combine(ScopeNode::Kind::kAnd, std::move(parts));
  }

  static ScopeNode Combine(ScopeNode::Kind kind, std::vector<ScopeNode> parts) {
    if (parts.size() == 1) return std::move(parts.front());
    ScopeNode node;
    node.kind = kind;
    node.children = std::move(parts);
    return node;
  }

  Result<ScopeNode> ParseFactor() {
    const size_t open = pos_;
    if (!Consume("(")) return ParseScope();
    CITYHUB_RETURN_IF_ERROR(EnterGroup(open));
    auto inner = ParseOr();
    if (!inner.ok()) return inner;
    if (!Consume(")")) return Expected(pos_, fmt::format("';', '|', ',' or ')' to close the '(' at position {}", open));
    LeaveGroup();
    return inner;
  }

  // "/#", or '/' Level *('/' Level) ["/#"], where a Level is a name or "+".
  Result<ScopeNode> ParseScope() {
    CITYHUB_RETURN_IF_ERROR(CountTerm(pos_));
    ScopeNode node;
    if (!Consume("/")) return Expected(pos_, "a scope starting with '/' (e.g. /Madrid/Gardens) or '('");
    if (Consume("#")) {
      node.kind = ScopeNode::Kind::kAnyScope;
      return node;
    }
    do {
      if (Consume("#")) {
        node.descendants = true;
        break;
      }
      const size_t start = pos_;
      if (!Consume("+")) {
        while (IsNameChar(Peek())) ++pos_;
      }
      if (pos_ == start) return Expected(start, "a scope level name, '+' or '#'");
      node.levels.emplace_back(text_.substr(start, pos_ - start));
    } while (Consume("/"));
    return node;
  }
};

// An entity scope "/a/b" as its levels; empty levels are ignored.
std::vector<std::string_view> ScopeLevels(std::string_view scope) {
  std::vector<std::string_view> levels;
  while (!scope.empty()) {
    size_t slash = scope.find('/');
    std::string_view level = scope.substr(0, slash);
    if (!level.empty()) levels.push_back(level);
    if (slash == std::string_view::npos) break;
    scope.remove_prefix(slash + 1);
  }
  return levels;
}

using EntityScopes = std::vector<std::vector<std::string_view>>;

EntityScopes ScopesOf(const json::value& scope) {
  EntityScopes out;
  auto add = [&](const json::value& s) {
    if (s.is_string()) out.push_back(ScopeLevels(s.get_string()));
  };
  if (scope.is_array()) {
    std::for_each(scope.get_array().begin(), scope.get_array().end(), add);
  } else {
    add(scope);
  }
  return out;
}

bool PathMatches(const ScopeNode& node, const std::vector<std::string_view>& levels) {
  if (levels.size() < node.levels.size()) return false;
  if (!node.descendants && levels.size() != node.levels.size()) return false;
  for (size_t i = 0; i < node.levels.size(); ++i) {
    if (node.levels[i] != "+" && node.levels[i] != levels[i]) return false;
  }
  return true;
}

bool ScopeNodeMatches(const ScopeNode& node, const EntityScopes& scopes) {
  auto matches = [&](const ScopeNode& child) { return ScopeNodeMatches(child, scopes); };
  auto path_matches = [&](const std::vector<std::string_view>& levels) { return PathMatches(node, levels); };
  switch (node.kind) {
    case ScopeNode::Kind::kAnyScope: return !scopes.empty();
    case ScopeNode::Kind::kAnd: return std::all_of(node.children.begin(), node.children.end(), matches);
    case ScopeNode::Kind::kOr: return std::any_of(node.children.begin(), node.children.end(), matches);
    default: return std::any_of(scopes.begin(), scopes.end(), path_matches);
  }
}

}  // namespace

Result<QFilter> QFilter::Parse(std::string_view text, const Context& ctx, const QueryLimits& limits) {
  auto root = QParser(text, ctx, limits).ParseQuery();
  if (!root.ok()) return root.status();
  QFilter filter;
  filter.index_terms_ = IndexTermsOf(*root);
  CollectAttributes(*root, &filter.attributes_);
  filter.root_ = std::make_shared<const QNode>(std::move(*root));
  return filter;
}

bool QFilter::Matches(const Entity& e) const { return !root_ || NodeMatches(*root_, e); }

Result<ScopeFilter> ScopeFilter::Parse(std::string_view text, const QueryLimits& limits) {
  auto root = ScopeParser(text, limits).ParseQuery();
  if (!root.ok()) return root.status();
  ScopeFilter filter;
  filter.root_ = std::make_shared<const ScopeNode>(std::move(*root));
  return filter;
}

bool ScopeFilter::Matches(const Entity& e) const {
  return !root_ || ScopeNodeMatches(*root_, ScopesOf(e.scope));
}

}  // namespace cityhub::ngsild
