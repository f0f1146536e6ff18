// How a part of the running hub says it cannot start: a Status whose message is logged as it is
// and whose code gives the process exit code — 2 when a setting is wrong (SettingError), 1 when
// the data dir, a file the hub reads or the network failed (StartFailure): after a 2 starting
// again is pointless until the configuration changes, after a 1 it may succeed.
#pragma once

#include <string>

#include "util/status.h"

namespace cityhub::app {

inline Status SettingError(std::string message) { return Status::BadRequestData(std::move(message)); }

inline Status StartFailure(std::string message) { return Status::Internal(std::move(message)); }

// The exit code of `Serve` for a failure made by SettingError or StartFailure.
inline int ExitCodeOf(const Status& failure) {
  return failure.code() == Status::Code::kBadRequestData ? 2 : 1;
}

}  // namespace cityhub::app
