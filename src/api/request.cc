// Shared request handling. The rules follow GS CIM 009 §6.3 (HTTP binding):
// - a body is application/json or application/ld+json (merge-patch for PATCH /entities/{id});
//   with ld+json the @context is in the body and a Link context header is an error; with
//   plain JSON the @context comes from the Link header and may not be in the body;
// - responses carry the @context in the body for ld+json, else in a Link header;
// - errors are ProblemDetails whose `type` is an NGSI-LD error URI.
#include "api/request.h"


#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <optional>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "store/store.h"
#include "util/json.h"

namespace cityhub::api {
namespace json = boost::json;

namespace {

constexpr std::string_view kContextRel = "http://www.w3.org/ns/json-ld#context";

struct ErrorInfo {
  Status::Code code;
  int http;
  std::string_view type;
  std::string_view title;
};
constexpr ErrorInfo kErrors[] = {
    {Status::Code::kInvalidRequest, 400, "InvalidRequest", "The request is malformed"},
    {Status::Code::kBadRequestData, 400, "BadRequestData", "The request data is invalid"},
    {Status::Code::kNotFound, 404, "ResourceNotFound", "The referred resource was not found"},
    {Status::Code::kNonexistentTenant, 404, "NonexistentTenant", "The addressed tenant does not exist"},
    {Status::Code::kAlreadyExists, 409, "AlreadyExists", "The referred element already exists"},
    {Status::Code::kOperationNotSupported, 422, "OperationNotSupported", "The operation is not supported"},
    {Status::Code::kTooManyResults, 403, "TooManyResults", "The query yields too many results"},
    {Status::Code::kTooComplexQuery, 403, "TooComplexQuery", "The query is too complex"},
    {Status::Code::kLdContextNotAvailable, 504, "LdContextNotAvailable", "The @context cannot be retrieved"},
    {Status::Code::kUnsupportedMediaType, 415, "InvalidRequest", "Unsupported media type"},
    {Status::Code::kNotAcceptable, 406, "InvalidRequest", "Not acceptable"},
    {Status::Code::kPayloadTooLarge, 413, "InvalidRequest", "Payload too large"},
    {Status::Code::kUnavailable, 503, "InternalError", "Service unavailable"},
    // NGSI-LD defines no error type for authentication (brokers leave it to a proxy): ours.
    {Status::Code::kUnauthenticated, 401, "urn:cityhub:error:Unauthenticated", "Authentication required"},
    {Status::Code::kPermissionDenied, 403, "urn:cityhub:error:PermissionDenied", "Not allowed"},
    {Status::Code::kTooManyRequests, 429, "urn:cityhub:error:TooManyRequests", "Rate limit exceeded"},
    {Status::Code::kInternal, 500, "InternalError", "Internal error"},
};

const ErrorInfo& InfoOf(Status::Code code) {
  for (const auto& e : kErrors) {
    if (e.code == code) return e;
  }
  return kErrors[std::size(kErrors) - 1];
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

}  // namespace

std::string MediaOf(std::string_view v) {
  v = Trim(v.substr(0, v.find(';')));
  std::string out(v);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

std::optional<std::string> ContextLink(const http::Request& req) {
  for (std::string_view header : req.headers.GetAll("Link")) {
    // A header may hold several comma-separated links; URLs are inside <>.
    size_t pos = 0;
    while ((pos = header.find('<', pos)) != std::string_view::npos) {
      size_t end = header.find('>', pos);
      if (end == std::string_view::npos) break;
      std::string_view url = header.substr(pos + 1, end - pos - 1);
      size_t next = header.find('<', end);
      std::string_view params = header.substr(end + 1, next == std::string_view::npos ? std::string_view::npos : next - end - 1);
      if (params.find(kContextRel) != std::string_view::npos) return std::string(Trim(url));
      pos = end;
    }
  }
  return std::nullopt;
}

namespace {

void AddContextTo(json::value& v, const json::value& ctx) {
  if (v.is_object()) v.get_object()["@context"] = ctx;
  if (v.is_array()) {
    for (auto& item : v.get_array()) {
      if (item.is_object()) item.get_object()["@context"] = ctx;
    }
  }
}

// The URL of this request with another page (for Link rel="next"/"prev").
std::string PageLink(const http::Request& req, size_t offset, size_t limit) {
  std::string query;
  std::string_view target = req.target;
  size_t q = target.find('?');
  std::string_view path = target.substr(0, q);
  if (q != std::string_view::npos) {
    std::string_view rest = target.substr(q + 1);
    while (!rest.empty()) {
      size_t amp = rest.find('&');
      std::string_view item = rest.substr(0, amp);
      rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
      if (item.rfind("offset=", 0) == 0 || item.rfind("limit=", 0) == 0 || item.empty()) continue;
      query.append(item).append("&");
    }
  }
  return fmt::format("<{}?{}limit={}&offset={}>", path, query, limit, offset);
}

}  // namespace

int HttpStatusOf(Status::Code code) { return InfoOf(code).http; }

json::object ProblemJson(const Status& st) {
  const ErrorInfo& info = InfoOf(st.code());
  json::object o;
  o["type"] = info.type.find(':') != std::string_view::npos
                  ? std::string(info.type)
                  : fmt::format("https://uri.etsi.org/ngsi-ld/errors/{}", info.type);
  o["title"] = info.title;
  o["status"] = info.http;
  o["detail"] = st.message();
  return o;
}

http::Response Problem(const Status& st) {
  http::Response r;
  r.status = InfoOf(st.code()).http;
  r.headers.Add("Content-Type", "application/json");
  r.body = util::SerializeJson(ProblemJson(st));
  return r;
}

Result<std::string> TenantOf(const http::Request& req) {
  std::string_view header = "NGSILD-Tenant";
  std::string_view t = req.headers.Get(header);
  if (t.empty()) {
    // FIWARE clients (IoT agents, Orion tooling) name the tenant Fiware-Service.
    header = "Fiware-Service";
    t = req.headers.Get(header);
  }
  if (t.empty()) return std::string();
  if (!store::ValidTenantName(t)) {
    return Status::BadRequestData(fmt::format(
        "header {}: a tenant name is 1-64 characters of letters, digits, '_' and '-', not starting with '-'", header));
  }
  return std::string(t);
}

Result<JsonBody> ParseJsonBody(const http::Request& req, const ApiLimits& limits, bool allow_merge_patch) {
  // §6.3.4: application/merge-patch+json is a PATCH request's alternative to application/json.
  allow_merge_patch = allow_merge_patch || req.method == "PATCH";
  std::string media = MediaOf(req.headers.Get("Content-Type"));
  JsonBody out;
  if (media == "application/ld+json") {
    out.ld_json = true;
  } else if (media != "application/json" && !(allow_merge_patch && media == "application/merge-patch+json")) {
    return Status(Status::Code::kUnsupportedMediaType,
                  fmt::format("Content-Type must be application/json or application/ld+json{}; got '{}'",
                              allow_merge_patch ? " (or application/merge-patch+json)" : "",
                              media.empty() ? "none" : media.substr(0, 100)));
  }
  if (req.body.empty()) return Status::InvalidRequest("the request body is empty");
  json::parse_options opts;
  opts.max_depth = limits.max_json_depth;
  boost::system::error_code ec;
  out.value = util::ParseJson(req.body, opts, ec);
  if (ec) {
    if (ec == json::error::too_deep) {
      return Status::InvalidRequest(fmt::format("the JSON body is nested deeper than {} levels", limits.max_json_depth));
    }
    if (ec == json::error::exponent_overflow) {
      return Status::InvalidRequest("the JSON body holds a number too large for a double (beyond ±1.8e308)");
    }
    return Status::InvalidRequest(fmt::format("the body is not valid JSON: {}", ec.message()));
  }
  return out;
}

Result<ngsild::ContextPtr> ContextOf(const http::Request& req, const ApiDeps& deps,
                                     const json::object* body_object, bool ld_json) {
  auto link = ContextLink(req);
  const json::value* inline_ctx = body_object ? body_object->if_contains("@context") : nullptr;
  auto tenant = TenantOf(req);
  if (!tenant.ok()) return tenant.status();
  if (ld_json) {
    if (link) return Status::BadRequestData("a Link @context header is not allowed with Content-Type application/ld+json");
    if (!inline_ctx) return Status::BadRequestData("Content-Type application/ld+json requires an @context in the body");
    return deps.contexts->Resolve(*inline_ctx, *tenant);
  }
  if (inline_ctx) {
    return Status::BadRequestData("an @context in the body requires Content-Type application/ld+json");
  }
  if (link) return deps.contexts->ResolveUrl(*link, *tenant);
  return deps.contexts->Core();
}

// The q parameter of one Accept item (RFC 9110 §12.4.2), 1 if absent or malformed.
double QualityOf(std::string_view item) {
  size_t pos = item.find(';');
  while (pos != std::string_view::npos) {
    std::string_view param = Trim(item.substr(pos + 1, item.find(';', pos + 1) - pos - 1));
    if (param.size() > 2 && (param[0] == 'q' || param[0] == 'Q') && param[1] == '=') {
      char* end = nullptr;
      std::string value(param.substr(2));
      double q = std::strtod(value.c_str(), &end);
      return end && *end == '\0' && q >= 0 && q <= 1 ? q : 1.0;
    }
    pos = item.find(';', pos + 1);
  }
  return 1.0;
}

Result<MediaType> AcceptOf(const http::Request& req, bool geojson) {
  std::string_view accept = req.headers.Get("Accept");
  if (accept.empty()) return MediaType::kJson;
  // The acceptable type with the highest q; on a tie the one listed first.
  std::optional<MediaType> best;
  double best_q = 0;
  std::string_view rest = accept;
  while (!rest.empty()) {
    size_t comma = rest.find(',');
    std::string_view raw = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    std::string item = MediaOf(raw);
    std::optional<MediaType> type;
    if (item == "application/ld+json") type = MediaType::kLdJson;
    if (item == "application/geo+json" && geojson) type = MediaType::kGeoJson;
    if (item == "application/json" || item == "application/*" || item == "*/*") type = MediaType::kJson;
    double q = QualityOf(raw);
    if (type && q > best_q) {
      best = type;
      best_q = q;
    }
  }
  if (best) return *best;
  return Status(Status::Code::kNotAcceptable,
                geojson ? "Accept must allow application/json, application/ld+json or application/geo+json"
                        : "Accept must allow application/json or application/ld+json (GeoJSON represents entities only)");
}

Result<bool> BoolParam(const http::Request& req, std::string_view name) {
  const std::string* v = req.Param(name);
  if (!v || *v == "false") return false;
  if (*v == "true") return true;
  return Status::BadRequestData(fmt::format("parameter '{}' must be true or false", name));
}

Result<std::vector<std::string>> SplitList(std::string_view value, std::string_view param) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= value.size()) {
    size_t comma = value.find(',', start);
    std::string_view item = Trim(value.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
    if (item.empty()) return Status::InvalidRequest(fmt::format("parameter '{}' has an empty list item", param));
    out.emplace_back(item);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

bool HasOption(const http::Request& req, std::string_view name) {
  const std::string* options = req.Param("options");
  if (!options) return false;
  auto items = SplitList(*options, "options");
  return items.ok() && std::find(items->begin(), items->end(), name) != items->end();
}

Result<Representation> RepresentationOf(const http::Request& req) {
  Representation r;
  auto apply_format = [&](std::string_view f) -> bool {
    if (f == "keyValues" || f == "simplified") {
      r.format = ngsild::Format::kKeyValues;
    } else if (f == "concise") {
      r.format = ngsild::Format::kConcise;
    } else if (f == "normalized") {
      r.format = ngsild::Format::kNormalized;
    } else {
      return false;
    }
    return true;
  };
  if (const std::string* options = req.Param("options")) {
    auto items = SplitList(*options, "options");
    if (!items.ok()) return items.status();
    for (const auto& item : *items) {
      if (item == "sysAttrs") {
        r.sys_attrs = true;
      } else if (!apply_format(item) && item != "noOverwrite" && item != "update" && item != "replace") {
        return Status::InvalidRequest(fmt::format("parameter 'options': unknown value '{}'", item.substr(0, 64)));
      }
    }
  }
  if (const std::string* format = req.Param("format")) {
    if (!apply_format(*format)) {
      return Status::InvalidRequest("parameter 'format' must be normalized, concise or keyValues");
    }
  }
  return r;
}

Result<std::optional<std::set<std::string>>> AttrsParam(const http::Request& req, const ngsild::Context& ctx) {
  const std::string* attrs = req.Param("attrs");
  if (!attrs) return std::optional<std::set<std::string>>();
  auto items = SplitList(*attrs, "attrs");
  if (!items.ok()) return items.status();
  std::set<std::string> out;
  for (const auto& item : *items) {
    if (!ngsild::IsValidName(item)) return Status::InvalidRequest(fmt::format("parameter 'attrs': invalid attribute name '{}'", item.substr(0, 64)));
    out.insert(ctx.ExpandTerm(item));
  }
  return std::optional<std::set<std::string>>(std::move(out));
}

namespace {
// A response's headers for `media`: its Content-Type, and the @context in a Link header unless
// the body carries it (`context_in_body`).
http::Response JsonHeaders(int status, MediaType media, bool context_in_body, const ngsild::Context& ctx) {
  http::Response r;
  r.status = status;
  r.headers.Add("Content-Type", media == MediaType::kLdJson    ? "application/ld+json"
                                : media == MediaType::kGeoJson ? "application/geo+json"
                                                               : "application/json");
  if (!context_in_body) {
    r.headers.Add("Link", fmt::format("<{}>; rel=\"{}\"; type=\"application/ld+json\"", ctx.LinkUrl(), kContextRel));
  }
  return r;
}
}  // namespace

http::Response JsonResponse(int status, json::value body, MediaType media, const ngsild::Context& ctx) {
  bool context_in_body = false;
  if (media == MediaType::kLdJson) {
    AddContextTo(body, ctx.AsJson());
    context_in_body = true;
  } else if (media == MediaType::kGeoJson && body.is_object()) {
    // A GeoJSON Feature or FeatureCollection carries its @context as a top-level member
    // (GS CIM 009 §5.2.29, §5.2.30), as a JSON-LD body does.
    body.get_object()["@context"] = ctx.AsJson();
    context_in_body = true;
  }
  http::Response r = JsonHeaders(status, media, context_in_body, ctx);
  r.body = util::SerializeJson(body);
  return r;
}

http::Response JsonTextResponse(int status, std::string body, MediaType media, const ngsild::Context& ctx) {
  http::Response r = JsonHeaders(status, media, media == MediaType::kLdJson, ctx);
  r.body = std::move(body);
  return r;
}

Result<ObjectRequest> ReadObjectRequest(const http::Request& req, const ApiDeps& deps, bool allow_merge_patch,
                                        std::string_view what) {
  ObjectRequest out;
  auto tenant = TenantOf(req);
  if (!tenant.ok()) return tenant.status();
  out.tenant = std::move(*tenant);
  auto body = ParseJsonBody(req, deps.limits, allow_merge_patch);
  if (!body.ok()) return body.status();
  if (!body->value.is_object()) return Status::InvalidRequest(fmt::format("the body must be a JSON object ({})", what));
  out.body = std::move(body->value);
  auto ctx = ContextOf(req, deps, &out.body.get_object(), body->ld_json);
  if (!ctx.ok()) return ctx.status();
  out.ctx = std::move(*ctx);
  return out;
}

Result<ResourceRead> ReadResourceRequest(const http::Request& req, const ApiDeps& deps) {
  ResourceRead out;
  auto tenant = TenantOf(req);
  if (!tenant.ok()) return tenant.status();
  out.tenant = std::move(*tenant);
  auto media = AcceptOf(req, /*geojson=*/false);
  if (!media.ok()) return media.status();
  out.media = *media;
  auto ctx = ContextOf(req, deps, nullptr, false);
  if (!ctx.ok()) return ctx.status();
  out.ctx = std::move(*ctx);
  return out;
}

Result<size_t> SizeParam(const http::Request& req, std::string_view name, size_t fallback) {
  const std::string* v = req.Param(name);
  if (!v) return fallback;
  if (v->empty() || v->size() > 9 || v->find_first_not_of("0123456789") != std::string::npos) {
    return Status::BadRequestData(fmt::format("parameter '{}' must be a non-negative integer", name));
  }
  return static_cast<size_t>(std::stoul(*v));
}

std::string PathSegment(std::string_view id) {
  std::string out;
  for (unsigned char c : id) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == ':') {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

http::Response PlainJson(int status, const json::value& body) {
  http::Response r;
  r.status = status;
  r.headers.Add("Content-Type", "application/json");
  r.body = util::SerializeJson(body);
  return r;
}

http::Response NoContent() {
  http::Response r;
  r.status = 204;
  return r;
}

Result<Paging> PagingOf(const http::Request& req, const ApiLimits& limits) {
  Paging p;
  auto count = BoolParam(req, "count");
  if (!count.ok()) return count.status();
  auto limit = SizeParam(req, "limit", limits.default_page_size);
  if (!limit.ok()) return limit.status();
  auto offset = SizeParam(req, "offset", 0);
  if (!offset.ok()) return offset.status();
  if (*limit > limits.max_page_size) {
    return Status::TooManyResults(fmt::format("parameter 'limit' must be at most {}", limits.max_page_size));
  }
  if (*limit == 0 && !*count) return Status::BadRequestData("parameter 'limit' may be 0 only with count=true");
  p.limit = *limit;
  p.offset = *offset;
  p.count = *count;
  return p;
}

void AddPageLinks(const http::Request& req, const Paging& page, bool more, http::Response* resp) {
  if (page.limit == 0) return;
  if (more) resp->headers.Add("Link", PageLink(req, page.offset + page.limit, page.limit) + "; rel=\"next\"");
  if (page.offset > 0) {
    const size_t prev = page.offset > page.limit ? page.offset - page.limit : 0;
    resp->headers.Add("Link", PageLink(req, prev, page.limit) + "; rel=\"prev\"");
  }
}

}  // namespace cityhub::api
