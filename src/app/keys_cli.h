// `cityhub keys …`: the operator's commands on the API key file (security/api_keys.h) —
// `create` prints a new key once, `list` shows the keys without their hashes, `revoke` withdraws
// one (a running hub notices within seconds). Each takes --file PATH. Used once from main();
// not thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace cityhub::app {

class KeysCommand {
 public:
  // Registers `keys` and its subcommands on `app`; they fill this object when parsed.
  explicit KeysCommand(CLI::App& app);

  // True if the command line chose `keys`.
  bool selected() const;

  // Runs the chosen subcommand: 0 when done, 1 when refused (the reason is on stderr).
  int Run() const;

 private:
  int Create() const;
  int List() const;
  int Revoke() const;

  CLI::App* keys_ = nullptr;
  CLI::App* create_ = nullptr;
  CLI::App* list_ = nullptr;
  CLI::App* revoke_ = nullptr;
  std::string file_;
  std::string name_;
  std::vector<std::string> roles_;
  int64_t expires_in_days_ = 0;  // 0 = never
  std::string name_or_id_;
};

}  // namespace cityhub::app
