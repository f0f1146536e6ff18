/* Forwarded writes and their outcome.
 *
 * A write reaches a source once: no retry, because a write that timed out may still have been
 * applied there, and repeating it is the client's decision (it sees the error). The outcome of
 * each source becomes either a success (its registration id) or a SourceWriteError with the
 * registration id, so the API can render the BatchEntityErrors of §5.2.17. A source's error is
 * passed on by its NGSI-LD error type — a client may act on "AlreadyExists" from a source as
 * from the hub — but its text is cut and cleaned, since it comes from another system.
 */
#include "broker/distributed_write.h"

#include <algorithm>
#include <string_view>

#include <boost/json/parse.hpp>
#include <fmt/format.h>

namespace cityhub::broker {
namespace json = boost::json;
namespace {

constexpr size_t kMaxQuoted = 200;
constexpr std::string_view kErrorPrefix = "https://uri.etsi.org/ngsi-ld/errors/";

std::string Clean(std::string_view text) {
  std::string out(text.substr(0, kMaxQuoted));
  std::replace_if(out.begin(), out.end(), [](char c) { return static_cast<unsigned char>(c) < 32 || c == 127; }, ' ');
  return out;
}

std::optional<Status::Code> CodeOfType(std::string_view type) {
  if (type.starts_with(kErrorPrefix)) type.remove_prefix(kErrorPrefix.size());
  static constexpr std::pair<std::string_view, Status::Code> kTypes[] = {
      {"InvalidRequest", Status::Code::kInvalidRequest},
      {"BadRequestData", Status::Code::kBadRequestData},
      {"ResourceNotFound", Status::Code::kNotFound},
      {"NonexistentTenant", Status::Code::kNonexistentTenant},
      {"AlreadyExists", Status::Code::kAlreadyExists},
      {"OperationNotSupported", Status::Code::kOperationNotSupported},
      {"TooManyResults", Status::Code::kTooManyResults},
      {"TooComplexQuery", Status::Code::kTooComplexQuery},
      {"LdContextNotAvailable", Status::Code::kLdContextNotAvailable},
  };
  for (const auto& [name, code] : kTypes) {
    if (type == name) return code;
  }
  return std::nullopt;
}

Status::Code CodeOfHttpStatus(unsigned status) {
  switch (status) {
    case 400: return Status::Code::kBadRequestData;
    case 404: return Status::Code::kNotFound;
    case 409: return Status::Code::kAlreadyExists;
    case 422: return Status::Code::kOperationNotSupported;
    default: return Status::Code::kUnavailable;
  }
}

}  // namespace

Status StatusOfAnswer(const std::string& registration_id, unsigned http_status, std::string_view body) {
  boost::system::error_code ec;
  const json::value problem = json::parse(body, ec);
  std::optional<Status::Code> code;
  std::string said;
  if (!ec && problem.is_object()) {
    const json::object& o = problem.get_object();
    if (const json::value* type = o.if_contains("type"); type && type->is_string()) code = CodeOfType(type->get_string());
    for (std::string_view member : {"detail", "title"}) {
      const json::value* v = o.if_contains(member);
      if (v && v->is_string() && !v->get_string().empty()) {
        said = Clean(v->get_string());
        break;
      }
    }
  }
  std::string message = fmt::format("context source registration {} answered HTTP {}", registration_id, http_status);
  if (!said.empty()) message += ": " + said;
  return Status(code.value_or(CodeOfHttpStatus(http_status)), std::move(message));
}

WriteReport DistributedWrite::Forward(const std::string& entity_id, const std::vector<ContextSource>& sources,
                                      const std::function<ForwardedRequest(const ContextSource&)>& build,
                                      const DistributedCall& call) {
  WriteReport report;
  if (sources.empty() || client_.SeenBefore(call.via, call.alias)) return report;
  std::vector<ContextSource> asked;
  for (const ContextSource& s : sources) {
    if (s.alias.empty() || !ViaNames(call.via, s.alias)) asked.push_back(s);
  }
  std::vector<SourceAnswer> answers = client_.Ask(asked, [&](const ContextSource& s) {
    ForwardedRequest r = build(s);
    r.link_context = call.link_context;
    r.via = call.via;
    r.alias = call.alias;
    return r;
  });
  for (const SourceAnswer& a : answers) {
    const std::string& id = a.source->registration_id;
    if (a.outcome == SourceAnswer::Outcome::kAnswered && a.status >= 200 && a.status < 300 && a.status != 207) {
      report.succeeded.push_back(id);
      continue;
    }
    Status why;
    if (a.outcome == SourceAnswer::Outcome::kAnswered) {
      why = a.status == 207 ? Status(Status::Code::kUnavailable,
                                     fmt::format("context source registration {} answered HTTP 207: only part of the write succeeded there", id))
                            : StatusOfAnswer(id, a.status, a.body);
    } else {
      why = Status(Status::Code::kUnavailable,
                   fmt::format("context source registration {} {}{}", id,
                               a.outcome == SourceAnswer::Outcome::kSkipped ? "was not asked: " : "did not answer: ", a.reason));
    }
    report.errors.push_back(SourceWriteError{entity_id, id, std::move(why)});
  }
  return report;
}

}  // namespace cityhub::broker
