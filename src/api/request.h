// Shared request handling for the API handlers: ProblemDetails responses, media types,
// tenant header, JSON bodies within limits, @context resolution (Link header or body), the
// `options`/`format` parameters and writing entity JSON back with its @context.
// Stateless functions; thread-safe.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/value.hpp>

#include "api/api.h"
#include "http/message.h"
#include "ngsild/context.h"
#include "ngsild/render.h"
#include "util/status.h"

namespace cityhub::api {

// An RFC 7807 ProblemDetails response for `st` (never ok), with the NGSI-LD error type URI
// and the HTTP status the spec gives for it.
http::Response Problem(const Status& st);
// The ProblemDetails JSON object for `st` (for batch results).
boost::json::object ProblemJson(const Status& st);
int HttpStatusOf(Status::Code code);

// A request's tenant from the NGSILD-Tenant header, else Fiware-Service ("" = default).
// Invalid names give BadRequestData.
Result<std::string> TenantOf(const http::Request& req);

// The request's JSON body. Checks Content-Type (application/json or application/ld+json, plus
// application/merge-patch+json when `allow_merge_patch`), size, syntax and nesting depth.
struct JsonBody {
  boost::json::value value;
  bool ld_json = false;  // Content-Type was application/ld+json
};
Result<JsonBody> ParseJsonBody(const http::Request& req, const ApiLimits& limits,
                               bool allow_merge_patch = false);

// The media type of a Content-Type / Accept item without parameters, lower-cased.
std::string MediaOf(std::string_view v);

// The URL of the request's Link header with rel = the JSON-LD context relation, if any.
std::optional<std::string> ContextLink(const http::Request& req);

// The @context of a request: from the body's "@context" member for application/ld+json (where
// it is mandatory), else from the Link header, else the core context. `body_object` may be
// null (GET, DELETE). Resolved in the request's tenant (an inline @context becomes one of its
// ImplicitlyCreated contexts). Errors: BadRequestData for a missing or forbidden @context or a
// bad tenant name, LdContextNotAvailable for a URL that cannot be had.
Result<ngsild::ContextPtr> ContextOf(const http::Request& req, const ApiDeps& deps,
                                     const boost::json::object* body_object, bool ld_json);

// What the client accepts for entity responses.
enum class MediaType { kJson, kLdJson, kGeoJson };
// NotAcceptable if nothing the hub produces is acceptable. `geojson`: the response may be
// GeoJSON (entities); otherwise application/geo+json counts as not acceptable.
Result<MediaType> AcceptOf(const http::Request& req, bool geojson = true);

// A request whose body is one JSON object: its tenant, the body and the @context to read it
// with. InvalidRequest "the body must be a JSON object (`what`)" for any other JSON value.
struct ObjectRequest {
  std::string tenant;
  boost::json::value body;
  ngsild::ContextPtr ctx;
  const boost::json::object& object() const { return body.get_object(); }
};
Result<ObjectRequest> ReadObjectRequest(const http::Request& req, const ApiDeps& deps, bool allow_merge_patch,
                                        std::string_view what);

// A read of resources other than entities (types, attributes, subscriptions): the tenant, the
// media type (JSON or JSON-LD; an Accept allowing only GeoJSON is NotAcceptable) and the Link
// header's @context.
struct ResourceRead {
  std::string tenant;
  MediaType media = MediaType::kJson;
  ngsild::ContextPtr ctx;
};
Result<ResourceRead> ReadResourceRequest(const http::Request& req, const ApiDeps& deps);

// The representation asked for by `options` (keyValues, concise, normalized, sysAttrs) and
// `format`. InvalidRequest for unknown option values.
struct Representation {
  ngsild::Format format = ngsild::Format::kNormalized;
  bool sys_attrs = false;
};
Result<Representation> RepresentationOf(const http::Request& req);
// True if the comma-separated `options` parameter contains `name`.
bool HasOption(const http::Request& req, std::string_view name);

// A boolean query parameter: "true" or "false"; absent = false. Anything else is
// BadRequestData naming the parameter.
Result<bool> BoolParam(const http::Request& req, std::string_view name);

// A non-negative integer parameter (at most 9 digits), or `fallback` if absent; BadRequestData
// naming the parameter otherwise.
Result<size_t> SizeParam(const http::Request& req, std::string_view name, size_t fallback);

// `id` as one path segment: everything but unreserved characters and ':' percent-encoded, so
// that ids holding '/', '?', '#' or non-ASCII make a working Location.
std::string PathSegment(std::string_view id);

// Splits a comma-separated parameter; empty items give InvalidRequest naming `param`.
Result<std::vector<std::string>> SplitList(std::string_view value, std::string_view param);
// Expanded names of the `attrs` parameter, or nullopt if absent.
Result<std::optional<std::set<std::string>>> AttrsParam(const http::Request& req, const ngsild::Context& ctx);

// A 200 response holding `body` as JSON; for application/ld+json the @context is added to the
// object (or to each object of an array), otherwise it is sent in a Link header.
http::Response JsonResponse(int status, boost::json::value body, MediaType media, const ngsild::Context& ctx);
// JsonResponse for a body already serialized (JSON or JSON-LD, not GeoJSON), "@context" members
// already in it when the media type is JSON-LD.
http::Response JsonTextResponse(int status, std::string body, MediaType media, const ngsild::Context& ctx);
// A response without @context handling (ProblemDetails-free plain JSON).
http::Response PlainJson(int status, const boost::json::value& body);
http::Response NoContent();

// The paging parameters of a list: `limit` (default_page_size; above max_page_size a 403
// TooManyResults), `offset`, `count`; BadRequestData naming a bad one, or limit=0 without count.
struct Paging {
  size_t limit = 0;
  size_t offset = 0;
  bool count = false;
};
Result<Paging> PagingOf(const http::Request& req, const ApiLimits& limits);
// Adds the Link headers of a page: rel="next" when `more` follow, rel="prev" past the first.
void AddPageLinks(const http::Request& req, const Paging& page, bool more, http::Response* resp);

}  // namespace cityhub::api
