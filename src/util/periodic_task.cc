#include "util/periodic_task.h"

#include "util/thread_name.h"

namespace cityhub::util {

void PeriodicTask::Start() {
  if (thread_.joinable()) return;
  {
    std::lock_guard lock(mutex_);
    stop_ = false;
  }
  thread_ = std::thread([this] {
    NameThisThread(name_);
    std::unique_lock lock(mutex_);
    while (!stop_) {
      lock.unlock();
      run_();
      lock.lock();
      wake_.wait_for(lock, interval_, [this] { return stop_; });
    }
  });
}

void PeriodicTask::Stop() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace cityhub::util
