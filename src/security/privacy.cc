#include "security/privacy.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <iterator>

#include <boost/json.hpp>
#include <fmt/format.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "security/jwt.h"

namespace cityhub::security {
namespace json = boost::json;

namespace {

std::string HmacSha256(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
       data.size(), out, &len);
  return std::string(reinterpret_cast<const char*>(out), len);
}


Result<ClassRule> ParseClass(const json::value& v, std::string_view name) {
  if (!v.is_object()) return Status::BadRequestData(fmt::format("privacy class '{}' must be an object", name));
  ClassRule rule;
  const json::object& o = v.get_object();
  const json::value* t = o.if_contains("treatment");
  if (!t || !t->is_string()) {
    return Status::BadRequestData(fmt::format("privacy class '{}' needs a 'treatment' (pseudonymise or omit)", name));
  }
  if (t->get_string() == "pseudonymise" || t->get_string() == "pseudonymize") {
    rule.treatment = Treatment::kPseudonymise;
  } else if (t->get_string() == "omit") {
    rule.treatment = Treatment::kOmit;
  } else {
    return Status::BadRequestData(fmt::format("privacy class '{}': treatment must be pseudonymise or omit", name));
  }
  if (const json::value* r = o.if_contains("readers")) {
    if (!r->is_array()) return Status::BadRequestData(fmt::format("privacy class '{}': readers must be an array of role names", name));
    for (const auto& role : r->get_array()) {
      if (!role.is_string() || role.get_string().empty()) {
        return Status::BadRequestData(fmt::format("privacy class '{}': readers must be an array of role names", name));
      }
      rule.readers.emplace_back(role.get_string());
    }
  }
  return rule;
}

// An ISO 8601 duration of days and smaller units is what retention rules accept; check the shape.
bool LooksLikeDuration(std::string_view s) { return s.size() >= 3 && s[0] == 'P'; }

}  // namespace

Result<std::shared_ptr<const PrivacyPolicy>> PrivacyPolicy::Parse(
    std::string_view text,
    const std::function<Result<std::function<std::string(std::string_view)>>(const json::value* context)>& expander) {
  boost::system::error_code ec;
  json::value doc = json::parse(text, ec);
  if (ec || !doc.is_object()) return Status::BadRequestData("the privacy file is not a JSON object");
  const json::object& root = doc.get_object();
  for (const auto& [k, v] : root) {
    if (k != "@context" && k != "k" && k != "classes" && k != "types") {
      return Status::BadRequestData(fmt::format("the privacy file has an unknown member '{}'", std::string_view(k)));
    }
  }
  auto expand = expander(root.if_contains("@context"));
  if (!expand.ok()) return expand.status();
  auto p = std::make_shared<PrivacyPolicy>();
  if (const json::value* k = root.if_contains("k")) {
    if (!k->is_int64() || k->get_int64() < 2 || k->get_int64() > 1000) {
      return Status::BadRequestData("privacy 'k' must be an integer from 2 to 1000");
    }
    p->k_ = static_cast<size_t>(k->get_int64());
  }
  if (const json::value* classes = root.if_contains("classes")) {
    if (!classes->is_object()) return Status::BadRequestData("privacy 'classes' must be an object");
    for (const auto& [name, v] : classes->get_object()) {
      auto rule = ParseClass(v, name);
      if (!rule.ok()) return rule.status();
      if (name == "personal") p->personal_ = std::move(*rule);
      else if (name == "sensitive") p->sensitive_ = std::move(*rule);
      else return Status::BadRequestData(fmt::format("unknown privacy class '{}' (personal, sensitive)", std::string_view(name)));
    }
  }
  const json::value* types = root.if_contains("types");
  if (!types || !types->is_object()) return Status::BadRequestData("the privacy file needs a 'types' object");
  for (const auto& [term, v] : types->get_object()) {
    const std::string_view where(term);
    if (!v.is_object()) return Status::BadRequestData(fmt::format("privacy type '{}' must be an object", where));
    TypePrivacy t;
    t.term = std::string(term);
    t.iri = (*expand)(term);
    for (const auto& [k, m] : v.get_object()) {
      std::string* field = k == "purpose" ? &t.purpose
                           : k == "legitimateInterest" ? &t.legitimate_interest
                           : k == "retention" ? &t.retention
                           : k == "crossborderTransfer" ? &t.crossborder_transfer
                                                        : nullptr;
      if (field) {
        if (!m.is_string()) return Status::BadRequestData(fmt::format("privacy type '{}': '{}' must be a string", where, std::string_view(k)));
        *field = std::string(m.get_string());
      } else if (k == "attributes") {
        if (!m.is_object()) return Status::BadRequestData(fmt::format("privacy type '{}': attributes must be an object", where));
        for (const auto& [attr, cls] : m.get_object()) {
          DataClass c;
          const std::string_view name = cls.is_string() ? std::string_view(cls.get_string()) : std::string_view();
          if (name == "personal") c = DataClass::kPersonal;
          else if (name == "sensitive") c = DataClass::kSensitive;
          else {
            return Status::BadRequestData(fmt::format("privacy type '{}': attribute '{}' must be \"personal\" or \"sensitive\"", where,
                                                      std::string_view(attr)));
          }
          std::string iri = (*expand)(attr);
          t.attributes[iri] = c;
          t.terms[iri] = std::string(attr);
        }
      } else {
        return Status::BadRequestData(fmt::format("privacy type '{}' has an unknown member '{}'", where, std::string_view(k)));
      }
    }
    if (!t.retention.empty() && !LooksLikeDuration(t.retention)) {
      return Status::BadRequestData(fmt::format("privacy type '{}': retention must be an ISO 8601 duration such as P1Y", where));
    }
    p->types_[t.iri] = std::move(t);
  }
  return std::shared_ptr<const PrivacyPolicy>(std::move(p));
}

DataClass PrivacyPolicy::ClassOf(const std::vector<std::string>& types, std::string_view attr) const {
  DataClass out = DataClass::kNone;
  for (const auto& type : types) {
    auto t = types_.find(type);
    if (t == types_.end()) continue;
    auto a = t->second.attributes.find(std::string(attr));
    if (a != t->second.attributes.end() && a->second > out) out = a->second;
  }
  return out;
}

bool PrivacyPolicy::Classifies(const std::vector<std::string>& types) const {
  for (const auto& type : types) {
    auto t = types_.find(type);
    if (t != types_.end() && !t->second.attributes.empty()) return true;
  }
  return false;
}

std::string PrivacyPolicy::RetentionRules() const {
  std::string out;
  for (const auto& [iri, t] : types_) {
    if (t.retention.empty()) continue;
    if (!out.empty()) out += ',';
    out += fmt::format("{}={}", iri, t.retention);
  }
  return out;
}

json::object PrivacyPolicy::Transparency() const {
  auto roles = [](const ClassRule& r) {
    json::array a;
    for (const auto& role : r.readers) a.emplace_back(role);
    return a;
  };
  auto treatment = [](const ClassRule& r) { return r.treatment == Treatment::kOmit ? "omitted" : "pseudonymised"; };
  json::array entries;
  for (const auto& [iri, t] : types_) {
    json::object e;
    e["id"] = fmt::format("urn:cityhub:PrivacyObject:{}", t.term);
    e["type"] = "PrivacyObject";
    e["dataType"] = t.term;
    e["dataTypeIri"] = iri;
    bool personal = false;
    json::array attrs;
    for (const auto& [attr, cls] : t.attributes) {
      const ClassRule& rule = Rule(cls);
      personal = true;
      attrs.emplace_back(json::object{{"name", t.terms.at(attr)},
                                      {"class", cls == DataClass::kSensitive ? "sensitive" : "personal"},
                                      {"otherwiseShown", treatment(rule)},
                                      {"readableInClearBy", roles(rule)}});
    }
    e["isPersonalData"] = personal;
    e["classifiedAttributes"] = std::move(attrs);
    if (!t.purpose.empty()) e["purpose"] = t.purpose;
    if (!t.legitimate_interest.empty()) e["legitimateInterest"] = t.legitimate_interest;
    e["retentionPeriod"] = t.retention.empty() ? "not limited" : t.retention;
    if (!t.crossborder_transfer.empty()) e["crossborderTransfer"] = t.crossborder_transfer;
    entries.push_back(std::move(e));
  }
  return json::object{{"privacyObjects", std::move(entries)},
                      {"pseudonymisation", "HMAC-SHA256 under a per-tenant key held by the hub"},
                      {"aggregateExportsMinimumGroupSize", k_}};
}

Result<std::unique_ptr<Pseudonymiser>> Pseudonymiser::Create(std::string secret) {
  if (secret.size() < 32) return Status::BadRequestData("the pseudonym secret must be at least 32 bytes");
  return std::unique_ptr<Pseudonymiser>(new Pseudonymiser(std::move(secret)));
}

std::string Pseudonymiser::TenantKey(std::string_view tenant) const {
  {
    std::shared_lock read(keys_mutex_);
    if (auto it = keys_.find(tenant); it != keys_.end()) return it->second;
  }
  std::string key = HmacSha256(secret_, fmt::format("cityhub pseudonym key for tenant '{}'", tenant));
  // Bounded: callers allowed in every tenant ("*:reader") may name tenants that do not exist.
  constexpr size_t kMaxRemembered = 4096;
  std::unique_lock write(keys_mutex_);
  if (keys_.size() < kMaxRemembered) keys_.emplace(std::string(tenant), key);
  return key;
}

std::string Pseudonymiser::Pseudonym(std::string_view tenant_key, std::string_view data) {
  return "urn:cityhub:pseudonym:" + Base64UrlEncode(HmacSha256(tenant_key, data).substr(0, 20));
}

bool Pseudonymiser::Apply(std::string_view tenant_key, json::object& instance) {
  const json::value* type = instance.if_contains("type");
  if (!type || !type->is_string()) return false;
  const std::string_view t = type->get_string();
  const char* member = t == "Property" ? "value"
                       : t == "Relationship" ? "object"
                       : t == "LanguageProperty" ? "languageMap"
                       : t == "VocabProperty" ? "vocab"
                       : t == "JsonProperty" ? "json"
                       : t == "ListProperty" ? "valueList"
                                             : nullptr;
  if (!member) return false;
  const json::value* value = instance.if_contains(member);
  if (!value) return false;
  std::string pseudonym = Pseudonym(tenant_key, json::serialize(*value));
  json::object out;
  for (const char* keep : {"type", "datasetId", "observedAt", "unitCode", "createdAt", "modifiedAt", "instanceId", "deletedAt"}) {
    if (const json::value* v = instance.if_contains(keep)) out[keep] = *v;
  }
  if (t == "LanguageProperty") {
    out[member] = json::object{{"@none", pseudonym}};
  } else if (t == "ListProperty") {
    out[member] = json::array{json::value(pseudonym)};
  } else {
    out[member] = pseudonym;
  }
  instance = std::move(out);
  return true;
}

Result<std::string> LoadOrCreateSecret(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (in) {
    std::string secret((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (secret.size() < 32) return Status::BadRequestData(fmt::format("pseudonym secret '{}' is shorter than 32 bytes", path));
    return secret;
  }
  unsigned char bytes[32];
  if (RAND_bytes(bytes, sizeof bytes) != 1) return Status::Internal("no random bytes for the pseudonym secret");
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
  if (fd < 0) return Status::BadRequestData(fmt::format("cannot create pseudonym secret '{}'", path));
  bool ok = ::write(fd, bytes, sizeof bytes) == static_cast<ssize_t>(sizeof bytes) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) return Status::Internal(fmt::format("cannot write pseudonym secret '{}'", path));
  return std::string(reinterpret_cast<const char*>(bytes), sizeof bytes);
}

}  // namespace cityhub::security
