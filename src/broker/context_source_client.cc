/* Forwarding a distributed operation to its context sources.
 *
 * Threads. The requests go out through one net::HttpClient, whose single I/O thread runs every
 * exchange as a coroutine; the calling (request handler) thread only waits for the answers on a
 * condition variable. So N sources cost N concurrent exchanges and one waiting thread, and the
 * total time is the slowest source's, bounded by its timeout — never the sum. Each request
 * carries an absolute deadline (its timeout from the moment Ask was called), which the client
 * enforces in every phase including the wait for a pooled connection; the caller's own wait ends
 * at the latest deadline plus a short grace, so even a lost callback cannot hold it longer.
 *
 * Health and figures. Every request is first admitted by SourceHealth (per-source concurrency limit and
 * cooldown after a failure). The admission is released in the request's completion callback,
 * not by the waiting caller, so a caller that stopped waiting cannot leak a slot. Answers with
 * a 5xx status count as failures for the cooldown (the source is unwell); a 4xx does not (the
 * source judged the request). Each request sent is also counted for its registration in
 * SourceStatistics (§5.2.9 timesSent, timesFailed, lastSuccess, lastFailure), where any
 * non-2xx answer is a failure, as the spec words it.
 *
 * What is sent. Link: the registration's contextSourceInfo "jsonldContext" when it names one
 * (the source's vocabulary), else the caller's @context; the answer records which, because its
 * terms are compacted with it. NGSILD-Tenant: the registration's tenant (§4.14), never the
 * caller's. Via: the incoming value plus "1.1 <alias>" (§6.3.18). Credentials: the operator's
 * header for the endpoint's origin (SourceCredentials), nothing from the client.
 */
#include "broker/context_source_client.h"

#include <algorithm>
#include <cctype>
#include <condition_variable>
#include <mutex>

#include <fmt/format.h>

#include "net/http_client.h"
#include "util/time.h"

namespace cityhub::broker {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kWaitGrace = std::chrono::milliseconds(100);
constexpr std::string_view kApiPrefix = "/ngsi-ld/v1";

std::string_view Trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(" \t") - first + 1);
}

std::string LinkHeader(std::string_view url) {
  return fmt::format("<{}>; rel=\"http://www.w3.org/ns/json-ld#context\"; type=\"application/ld+json\"", url);
}

// The registration's jsonldContext (contextSourceInfo), or "".
std::string_view RegisteredContext(const ContextSource& s) {
  for (const auto& [key, value] : s.info) {
    if (key == "jsonldContext") return value;
  }
  return {};
}

std::string Url(const ContextSource& s, const ForwardedRequest& r) {
  std::string_view endpoint = s.endpoint;
  while (endpoint.ends_with('/')) endpoint.remove_suffix(1);
  std::string url = fmt::format("{}{}{}", endpoint, kApiPrefix, r.path);
  if (!r.query.empty()) url += "?" + r.query;
  return url;
}

// The answers of one Ask call, filled in by the client's callbacks.
struct Pending {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<SourceAnswer> answers;
  std::vector<size_t> landed;  // sources whose outcome came and the caller has not taken yet
  size_t open = 0;
};

}  // namespace

std::string PercentEncode(std::string_view text) {
  std::string out;
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += c;
    } else {
      out += fmt::format("%{:02X}", u);
    }
  }
  return out;
}

std::string EncodeQuery(const std::vector<std::pair<std::string, std::string>>& params) {
  std::string out;
  for (const auto& [name, value] : params) {
    if (!out.empty()) out += '&';
    out += PercentEncode(name) + "=" + PercentEncode(value);
  }
  return out;
}

std::string ViaWith(std::string_view via, std::string_view alias) {
  via = Trim(via);
  if (via.empty()) return fmt::format("1.1 {}", alias);
  return fmt::format("{}, 1.1 {}", via, alias);
}

bool ViaNames(std::string_view via, std::string_view alias) {
  while (!via.empty()) {
    const size_t comma = via.find(',');
    std::string_view entry = Trim(via.substr(0, comma));
    via = comma == std::string_view::npos ? std::string_view{} : via.substr(comma + 1);
    // entry: received-protocol SP received-by [SP comment]
    const size_t sp = entry.find(' ');
    if (sp == std::string_view::npos) continue;
    std::string_view by = Trim(entry.substr(sp + 1));
    by = by.substr(0, by.find(' '));
    if (by == alias) return true;
  }
  return false;
}

struct ContextSourceClient::Impl {
  ContextSourceClientOptions options;
  SourceHealth health;
  SourceStatistics statistics;
  net::HttpClient client;  // after health: destroyed first, so no callback outlives it

  explicit Impl(ContextSourceClientOptions o)
      : options(std::move(o)), health(options.health), client([this] {
          net::HttpClientOptions c;
          c.connect_timeout = options.connect_timeout;
          c.max_connections_per_origin = options.max_connections_per_origin;
          c.ca_file = options.ca_file;
          c.addresses = options.addresses;
          c.thread_name = "federation";
          c.purpose = "distributed operation";
          return c;
        }()) {}

  net::HttpRequest ToHttp(const ContextSource& s, ForwardedRequest&& r, Clock::time_point deadline,
                          std::string* link_context) const {
    net::HttpRequest req;
    req.method = r.method;
    req.url = Url(s, r);
    req.headers.emplace_back("Accept", r.accept);
    const std::string_view registered = r.use_registered_context ? RegisteredContext(s) : std::string_view{};
    *link_context = std::string(registered.empty() ? std::string_view(r.link_context) : registered);
    if (!link_context->empty()) req.headers.emplace_back("Link", LinkHeader(*link_context));
    if (!s.tenant.empty()) req.headers.emplace_back("NGSILD-Tenant", s.tenant);
    req.headers.emplace_back("Via", ViaWith(r.via, r.alias.empty() ? options.alias : r.alias));
    if (auto credential = options.credentials.For(s.endpoint)) req.headers.push_back(std::move(*credential));
    if (!r.body.empty()) {
      req.headers.emplace_back("Content-Type", r.content_type);
      req.body = std::move(r.body);
    }
    req.timeout = s.timeout.value_or(options.default_timeout);
    req.deadline = deadline;
    req.max_response_bytes = options.max_answer_bytes;
    req.retry_stale_connection = r.method == "GET";
    return req;
  }
};

ContextSourceClient::ContextSourceClient(ContextSourceClientOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}

ContextSourceClient::~ContextSourceClient() = default;

const SourceHealth& ContextSourceClient::health() const { return impl_->health; }

SourceStatistics& ContextSourceClient::statistics() { return impl_->statistics; }

bool ContextSourceClient::SeenBefore(std::string_view via, std::string_view alias) const {
  return ViaNames(via, alias.empty() ? std::string_view(impl_->options.alias) : alias);
}

std::vector<SourceAnswer> ContextSourceClient::Ask(const std::vector<ContextSource>& sources,
                                                   const ForwardedRequest& request) {
  return Ask(sources, [&request](const ContextSource&) { return request; });
}

std::vector<SourceAnswer> ContextSourceClient::Ask(
    const std::vector<ContextSource>& sources, const std::function<ForwardedRequest(const ContextSource&)>& build) {
  return Ask(sources, build, Arrival());
}

std::vector<SourceAnswer> ContextSourceClient::Ask(
    const std::vector<ContextSource>& sources, const std::function<ForwardedRequest(const ContextSource&)>& build,
    const Arrival& arrived) {
  auto pending = std::make_shared<Pending>();
  pending->answers.resize(sources.size());
  const Clock::time_point start = Clock::now();
  Clock::time_point wait_until = start;
  for (size_t i = 0; i < sources.size(); ++i) {
    const ContextSource& s = sources[i];
    SourceAnswer& answer = pending->answers[i];
    answer.source = &s;
    if (s.endpoint.find_first_of("?#") != std::string::npos) {
      answer.reason = "the registration's endpoint has a query or fragment";
      continue;  // kFailed, not sent
    }
    SourceHealth::Admission admission = impl_->health.TryAcquire(s.endpoint);
    if (!admission.admitted) {
      answer.outcome = SourceAnswer::Outcome::kSkipped;
      answer.reason = std::move(admission.reason);
      continue;
    }
    const Clock::time_point deadline = start + s.timeout.value_or(impl_->options.default_timeout);
    wait_until = std::max(wait_until, deadline);
    net::HttpRequest req = impl_->ToHttp(s, build(s), deadline, &answer.link_context);
    {
      std::lock_guard lock(pending->mutex);
      ++pending->open;
    }
    impl_->client.Send(std::move(req), [pending, i, im = impl_.get(), endpoint = s.endpoint, home = s.home_tenant, registration = s.registration_id,
                                        cooldown = s.cooldown](net::HttpOutcome outcome) {
      const bool healthy = outcome.ok && outcome.response.status < 500;
      im->health.Release(endpoint, healthy, cooldown);
      const bool succeeded = outcome.ok && outcome.response.status >= 200 && outcome.response.status < 300;
      im->statistics.Record(home, registration, succeeded, util::NowMillis());
      std::lock_guard lock(pending->mutex);
      SourceAnswer& a = pending->answers[i];
      if (outcome.ok) {
        a.outcome = SourceAnswer::Outcome::kAnswered;
        a.status = outcome.response.status;
        a.results_count = std::string(outcome.response.Header("NGSILD-Results-Count"));
        a.body = std::move(outcome.response.body);
      } else {
        a.outcome = SourceAnswer::Outcome::kFailed;
        a.reason = std::move(outcome.error);
      }
      --pending->open;
      pending->landed.push_back(i);
      pending->changed.notify_all();
    });
  }
  // Each outcome is taken as it lands (a landed answer is never written again); what has not
  // landed by the deadline is copied at the end — late callbacks keep writing to their own copy.
  std::vector<SourceAnswer> out(sources.size());
  std::vector<bool> taken(sources.size());
  const Clock::time_point give_up = wait_until + kWaitGrace;
  std::unique_lock lock(pending->mutex);
  for (;;) {
    pending->changed.wait_until(lock, give_up, [&] { return !pending->landed.empty() || pending->open == 0; });
    if (pending->landed.empty()) break;  // all in, or the deadline passed
    std::vector<size_t> now;
    now.swap(pending->landed);
    for (size_t i : now) {
      out[i] = std::move(pending->answers[i]);
      out[i].source = &sources[i];
      taken[i] = true;
    }
    if (arrived) {
      const size_t still_awaited = pending->open;
      lock.unlock();
      for (size_t i : now) arrived(out[i], still_awaited);
      lock.lock();
    }
  }
  for (size_t i = 0; i < out.size(); ++i) {
    if (!taken[i]) out[i] = pending->answers[i];
    out[i].source = &sources[i];
    if (out[i].outcome == SourceAnswer::Outcome::kFailed && out[i].reason.empty()) out[i].reason = "timed out";
  }
  return out;
}

}  // namespace cityhub::broker
