#include "broker/history_retention.h"

#include <algorithm>
#include <limits>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "broker/history_codec.h"
#include "broker/history_recorder.h"
#include "util/thread_name.h"
#include "util/time.h"

namespace cityhub::broker {

namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The last path segment of an IRI (after '/', '#' or ':').
std::string_view ShortName(std::string_view iri) {
  const size_t cut = iri.find_last_of("/#:");
  return cut == std::string_view::npos ? iri : iri.substr(cut + 1);
}

}  // namespace

Result<RetentionPolicy> RetentionPolicy::Parse(std::string_view rules) {
  RetentionPolicy policy;
  while (!Trim(rules).empty()) {
    const size_t comma = rules.find(',');
    const std::string_view rule = Trim(rules.substr(0, comma));
    rules = comma == std::string_view::npos ? std::string_view() : rules.substr(comma + 1);
    const size_t eq = rule.find('=');
    if (eq == std::string_view::npos) {
      return Status::BadRequestData(fmt::format("retention rule '{}': expected [tenant/]type=duration", rule));
    }
    std::string_view subject = Trim(rule.substr(0, eq));
    auto keep = ParseIsoDuration(Trim(rule.substr(eq + 1)));
    if (!keep.ok() || keep->IsZero()) {
      return Status::BadRequestData(
          fmt::format("retention rule '{}': the duration must be a non-zero ISO 8601 duration such as P30D or P2Y", rule));
    }
    Rule r;
    r.tenant = "*";
    // The tenant is what comes before the first '/', unless the subject is an IRI.
    const size_t slash = subject.find('/');
    if (slash != std::string_view::npos && subject.find("://") == std::string_view::npos) {
      r.tenant = std::string(Trim(subject.substr(0, slash)));
      subject = Trim(subject.substr(slash + 1));
    }
    r.type = std::string(subject);
    if (r.type.empty() || r.tenant.empty()) {
      return Status::BadRequestData(fmt::format("retention rule '{}': empty tenant or type", rule));
    }
    r.keep = *keep;
    policy.rules_.push_back(std::move(r));
  }
  return policy;
}

std::optional<int64_t> RetentionPolicy::CutoffMs(std::string_view tenant, const std::vector<std::string>& types,
                                                 int64_t now_ms) const {
  const std::string_view tenant_name = tenant.empty() ? "default" : tenant;
  // Specificity: 3 tenant and type, 2 type, 1 tenant, 0 neither.
  int best_rank = -1;
  std::optional<int64_t> cutoff;
  for (const Rule& r : rules_) {
    if (r.tenant != "*" && r.tenant != tenant_name) continue;
    bool type_matches = r.type == "*";
    if (!type_matches) {
      for (const auto& t : types) type_matches = type_matches || t == r.type || ShortName(t) == r.type;
    }
    if (!type_matches) continue;
    const int rank = (r.tenant != "*" ? 1 : 0) + (r.type != "*" ? 2 : 0);
    const int64_t c = AddDuration(now_ms, r.keep, -1);
    if (rank > best_rank) {
      best_rank = rank;
      cutoff = c;
    } else if (rank == best_rank) {
      cutoff = std::max(*cutoff, c);  // the shortest retention: the latest cutoff
    }
  }
  return cutoff;
}

HistoryPurger::HistoryPurger(store::Store& store, const RetentionPolicy& policy, std::chrono::milliseconds interval)
    : store_(store), policy_(policy), interval_(interval) {}

HistoryPurger::~HistoryPurger() { Stop(); }

void HistoryPurger::Start() {
  if (policy_.empty() || thread_.joinable()) return;
  thread_ = std::thread([this] {
    util::NameThisThread("history-purge");
    std::unique_lock lock(mutex_);
    while (!stop_) {
      lock.unlock();
      auto stats = PurgeOnce(util::NowMillis());
      if (!stats.ok()) {
        spdlog::warn("history retention: purge failed: {}", stats.status().message());
      } else if (stats->entities > 0) {
        spdlog::info("history retention: trimmed the history of {} entities ({} deleted entities' histories gone)",
                     stats->entities, stats->headers_removed);
      }
      lock.lock();
      wake_.wait_for(lock, interval_, [this] { return stop_; });
    }
  });
}

void HistoryPurger::Stop() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Result<PurgeStats> HistoryPurger::PurgeOnce(int64_t now_ms) {
  PurgeStats stats;
  for (const std::string& tenant : store_.ListTenants()) {
    auto ts = store_.Tenant(tenant, false);
    if (!ts.ok()) continue;
    // Collected first: the scan's cursor is not held while deleting.
    struct Due {
      std::string id;
      int64_t before_block;
      bool deleted;
    };
    std::vector<Due> due;
    CITYHUB_RETURN_IF_ERROR((*ts)->ScanHistoryEntities([&](std::string_view id, std::string_view header) {
      auto h = DecodeHistoryHeader(header);
      if (!h.ok()) return true;  // unreadable: left alone (reads report it)
      auto cutoff = policy_.CutoffMs(tenant, h->types, now_ms);
      // Whole blocks older than the cutoff's block; the rest is hidden by reads.
      if (cutoff) due.push_back({std::string(id), HistoryBlockOf(*cutoff), h->deleted_ms.has_value()});
      return true;
    }));
    for (const Due& d : due) {
      // A range deletion only where there is something to delete (a seek per attribute):
      // tombstones written every interval for nothing would slow reads down.
      auto attrs = (*ts)->HistoryAttributes(d.id);
      if (!attrs.ok()) return attrs.status();
      bool trimmed = false;
      for (const auto& attr : *attrs) {
        bool old = false;
        CITYHUB_RETURN_IF_ERROR((*ts)->ScanHistory(d.id, attr, std::numeric_limits<int64_t>::min(), d.before_block - 1,
                                                   false, [&](int64_t, std::string_view) {
                                                     old = true;
                                                     return false;
                                                   }));
        if (!old) continue;
        CITYHUB_RETURN_IF_ERROR((*ts)->DeleteHistory(d.id, attr, d.before_block));
        trimmed = true;
      }
      if (trimmed) ++stats.entities;
      if (d.deleted) {
        auto attrs = (*ts)->HistoryAttributes(d.id);
        if (attrs.ok() && attrs->empty()) {
          CITYHUB_RETURN_IF_ERROR((*ts)->DeleteHistory(d.id, "", std::numeric_limits<int64_t>::max()));
          ++stats.headers_removed;
        }
      }
    }
  }
  return stats;
}

}  // namespace cityhub::broker
