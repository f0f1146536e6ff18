// A real mosquitto for the MQTT tests: /usr/sbin/mosquitto (installed by scripts/setup.sh; its
// absence fails the tests) on 127.0.0.1 at a given port, anonymous, without persistence, run as
// the current user (as root it would otherwise switch to "mosquitto", who cannot read the test's
// temporary directory). The test owns the process: Stop, Start again, or let the destructor end it.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>

namespace cityhub::testing {

inline constexpr const char* kMosquitto = "/usr/sbin/mosquitto";

// True when something accepts TCP connections on 127.0.0.1:port.
inline bool CanConnect(unsigned short port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

class Mosquitto {
 public:
  // `dir`: where its configuration and log go (the test's temporary directory).
  Mosquitto(std::filesystem::path dir, unsigned short port) : dir_(std::move(dir)), port_(port) {}
  ~Mosquitto() { Stop(); }
  Mosquitto(const Mosquitto&) = delete;
  Mosquitto& operator=(const Mosquitto&) = delete;

  // Starts it and waits until it accepts connections; a failure (with its log) if it does not
  // within 10 s.
  ::testing::AssertionResult Start() {
    using namespace std::chrono_literals;
    const passwd* pw = ::getpwuid(::geteuid());
    const std::filesystem::path conf = dir_ / fmt::format("mosquitto-{}.conf", port_);
    std::ofstream(conf) << fmt::format("listener {} 127.0.0.1\nallow_anonymous true\npersistence false\nuser {}\n",
                                       port_, pw ? pw->pw_name : "root");
    const std::string log = (dir_ / fmt::format("mosquitto-{}.log", port_)).string();
    pid_ = ::fork();
    if (pid_ == 0) {
      int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
      }
      ::execl(kMosquitto, kMosquitto, "-c", conf.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    const auto until = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < until) {
      if (CanConnect(port_)) return ::testing::AssertionSuccess();
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        break;
      }
      std::this_thread::sleep_for(20ms);
    }
    std::stringstream text;
    text << std::ifstream(log).rdbuf();
    return ::testing::AssertionFailure() << "mosquitto did not start on port " << port_ << "; its log:\n" << text.str();
  }

  void Stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  unsigned short port() const { return port_; }
  std::string Uri(std::string_view topic) const { return fmt::format("mqtt://127.0.0.1:{}/{}", port_, topic); }

 private:
  std::filesystem::path dir_;
  unsigned short port_;
  pid_t pid_ = -1;
};

}  // namespace cityhub::testing
