// PeriodicTask: runs one function on its own named thread now and then every `interval` until
// stopped — the loop every background job of the hub needs (sleep, wake early on Stop, join).
// Start and Stop are called by the owner (not concurrently); the destructor stops.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace cityhub::util {

class PeriodicTask {
 public:
  PeriodicTask(std::string thread_name, std::chrono::milliseconds interval, std::function<void()> run)
      : name_(std::move(thread_name)), interval_(interval), run_(std::move(run)) {}
  ~PeriodicTask() { Stop(); }
  PeriodicTask(const PeriodicTask&) = delete;
  PeriodicTask& operator=(const PeriodicTask&) = delete;

  // Starts the thread (no-op if running).
  void Start();
  // Wakes the thread, waits for a run in progress to finish, and joins it.
  void Stop();

 private:
  const std::string name_;
  const std::chrono::milliseconds interval_;
  const std::function<void()> run_;
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
};

}  // namespace cityhub::util
