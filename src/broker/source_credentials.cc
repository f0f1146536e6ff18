#include "broker/source_credentials.h"

#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "util/http_syntax.h"

namespace cityhub::broker {
namespace {

std::string_view Trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(" \t\r\n") - first + 1);
}

Result<std::string> ReadSecret(const std::string& file, std::string_view entry) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return Status::BadRequestData(fmt::format("federation credentials '{}': cannot read file '{}'", entry, file));
  std::stringstream text;
  text << in.rdbuf();
  const std::string secret(Trim(text.str()));
  if (secret.empty()) return Status::BadRequestData(fmt::format("federation credentials '{}': file '{}' is empty", entry, file));
  for (char c : secret) {
    if (static_cast<unsigned char>(c) < 32 || c == 127) {
      return Status::BadRequestData(fmt::format("federation credentials '{}': file '{}' holds control characters", entry, file));
    }
  }
  return secret;
}

}  // namespace

Result<SourceCredentials> SourceCredentials::Load(std::string_view spec) {
  SourceCredentials out;
  while (!spec.empty()) {
    const size_t end = spec.find(';');
    const std::string_view entry = Trim(spec.substr(0, end));
    spec = end == std::string_view::npos ? std::string_view{} : spec.substr(end + 1);
    if (entry.empty()) continue;
    const size_t eq = entry.find('=');
    if (eq == std::string_view::npos) {
      return Status::BadRequestData(fmt::format("federation credentials '{}': expected ORIGIN=bearer:FILE or ORIGIN=header:NAME:FILE", entry));
    }
    std::string error;
    const std::optional<util::HttpTarget> target = util::ParseHttpTarget(Trim(entry.substr(0, eq)), &error);
    if (!target) return Status::BadRequestData(fmt::format("federation credentials '{}': {}", entry, error));
    const std::string_view how = Trim(entry.substr(eq + 1));
    std::string name;
    std::string file;
    bool bearer = false;
    if (how.starts_with("bearer:")) {
      bearer = true;
      name = "Authorization";
      file = std::string(how.substr(7));
    } else if (how.starts_with("header:") && how.find(':', 7) != std::string_view::npos) {
      const size_t colon = how.find(':', 7);
      name = std::string(how.substr(7, colon - 7));
      file = std::string(how.substr(colon + 1));
    }
    if (name.empty() || file.empty() || !util::IsHttpToken(name)) {
      return Status::BadRequestData(fmt::format("federation credentials '{}': expected bearer:FILE or header:NAME:FILE", entry));
    }
    Result<std::string> secret = ReadSecret(file, entry);
    if (!secret.ok()) return secret.status();
    std::string value = bearer ? "Bearer " + *secret : std::move(*secret);
    if (!out.by_origin_.emplace(target->Origin(), std::pair{name, std::move(value)}).second) {
      return Status::BadRequestData(fmt::format("federation credentials '{}': origin {} given twice", entry, target->Origin()));
    }
  }
  return out;
}

std::optional<std::pair<std::string, std::string>> SourceCredentials::For(std::string_view endpoint) const {
  std::string error;
  const std::optional<util::HttpTarget> target = util::ParseHttpTarget(endpoint, &error);
  if (!target) return std::nullopt;
  auto it = by_origin_.find(target->Origin());
  if (it == by_origin_.end()) return std::nullopt;
  return it->second;
}

}  // namespace cityhub::broker
