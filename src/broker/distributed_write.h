// DistributedWrite: forwarding a write (create, update, merge, replace, delete — GS CIM 009
// §5.6 with registrations) to the context sources that hold the data, and reporting each
// source's outcome the way §5.2.16/§5.2.17 ask: the ids of the sources that took the write, and
// for each that did not, a BatchEntityError carrying its registrationId and a ProblemDetails.
// The API answers 207 with a BatchOperationResult (or UpdateResult) when any source failed.
// The caller decides what goes where (ngsild::SplitFragment splits an entity fragment by a
// registration's attributes); nothing here writes locally. Thread-safe.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "broker/context_source.h"
#include "broker/context_source_client.h"
#include "broker/distributed_read.h"
#include "util/status.h"

namespace cityhub::broker {

// A BatchEntityError (§5.2.17) of a forwarded write: the API renders it as {"entityId",
// "registrationId", "error": ProblemDetails of `status`}.
struct SourceWriteError {
  std::string entity_id;        // the entity written
  std::string registration_id;  // the source's registration
  // Why: the source's own NGSI-LD error type when it sent a ProblemDetails (its detail or title
  // quoted, at most 200 characters), else InternalError (503) for a source not asked, not
  // answering, or answering something else.
  Status status;
};

struct WriteReport {
  std::vector<std::string> succeeded;  // registration ids whose source answered 2xx (207 is not)
  std::vector<SourceWriteError> errors;
};

class DistributedWrite {
 public:
  explicit DistributedWrite(ContextSourceClient& client) : client_(client) {}

  // Sends to every source of `sources` not yet visited (Via, §6.3.18) the request
  // `build(source)` returns, all at once, within their timeouts; `entity_id` names the entity
  // in the errors.
  WriteReport Forward(const std::string& entity_id, const std::vector<ContextSource>& sources,
                      const std::function<ForwardedRequest(const ContextSource&)>& build, const DistributedCall& call);

 private:
  ContextSourceClient& client_;
};

// The Status a source's non-2xx answer stands for: the NGSI-LD error type of its ProblemDetails
// when it sent one the hub knows, else by the HTTP status (400 BadRequestData, 404
// ResourceNotFound, 409 AlreadyExists, 422 OperationNotSupported, others InternalError 503).
// The message names the registration and quotes the source's title or detail (sanitized).
Status StatusOfAnswer(const std::string& registration_id, unsigned http_status, std::string_view body);

}  // namespace cityhub::broker
