// CountingGate. A release hands its place to the oldest waiter directly (setting its `granted`
// under the mutex) instead of returning it to `free_`, so a newcomer arriving between the
// release and the waiter's wake-up cannot take it. Each waiter has its own condition variable:
// a release wakes exactly the thread it serves.
#include "util/counting_gate.h"

#include <algorithm>

namespace cityhub::util {

CountingGate::CountingGate(size_t capacity) : capacity_(std::max<size_t>(capacity, 1)), free_(capacity_) {}

CountingGate::Permit& CountingGate::Permit::operator=(Permit&& other) noexcept {
  if (this != &other) {
    Release();
    gate_ = other.gate_;
    other.gate_ = nullptr;
  }
  return *this;
}

void CountingGate::Permit::Release() {
  if (gate_) {
    gate_->ReleaseOne();
    gate_ = nullptr;
  }
}

CountingGate::Permit CountingGate::AcquireFor(std::chrono::steady_clock::duration timeout) {
  return AcquireUntil(std::chrono::steady_clock::now() + timeout);
}

CountingGate::Permit CountingGate::AcquireUntil(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mu_);
  if (free_ > 0 && queue_.empty()) {
    --free_;
    return Permit(this);
  }
  Waiter self;
  auto place = queue_.insert(queue_.end(), &self);
  // The predicate is checked once more at the deadline, so a grant racing the timeout is kept.
  if (!self.cv.wait_until(lock, deadline, [&] { return self.granted; })) {
    queue_.erase(place);
    return Permit();
  }
  return Permit(this);  // ReleaseOne took `self` off the queue when it granted
}

void CountingGate::ReleaseOne() {
  std::lock_guard lock(mu_);
  if (queue_.empty()) {
    ++free_;
    return;
  }
  Waiter* next = queue_.front();
  queue_.pop_front();
  next->granted = true;
  next->cv.notify_one();  // under the mutex: `next` cannot return (and die) before this ends
}

size_t CountingGate::in_use() const {
  std::lock_guard lock(mu_);
  return capacity_ - free_;
}

size_t CountingGate::waiting() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

}  // namespace cityhub::util
