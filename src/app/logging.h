// Logging setup: spdlog writing one JSON object per line to stderr, timestamps in UTC.
// Messages are written by the hub itself and never contain request payloads or personal data.
#pragma once

#include <string>

namespace cityhub::app {

// Installs the JSON-lines logger at `level` ("info", "debug", …).
void SetUpLogging(const std::string& level);

}  // namespace cityhub::app
