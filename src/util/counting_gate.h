// CountingGate: lets at most `capacity` holders into a section at once (a counting semaphore
// with a deadline on waiting). Holders get an RAII Permit; waiters are served in arrival order,
// a released permit going straight to the longest waiter, so a steady stream of newcomers
// cannot starve it. The gate owns only its counters; callers own what the section protects.
// Thread-safe; the gate must outlive its permits.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <list>
#include <mutex>

namespace cityhub::util {

class CountingGate {
 public:
  // A capacity of 0 is taken as 1.
  explicit CountingGate(size_t capacity);
  CountingGate(const CountingGate&) = delete;
  CountingGate& operator=(const CountingGate&) = delete;

  // A place in the gate, released when destroyed (or by Release()). An empty Permit (a failed
  // acquire, or one moved from) holds nothing.
  class Permit {
   public:
    Permit() = default;
    Permit(Permit&& other) noexcept : gate_(other.gate_) { other.gate_ = nullptr; }
    Permit& operator=(Permit&& other) noexcept;
    Permit(const Permit&) = delete;
    Permit& operator=(const Permit&) = delete;
    ~Permit() { Release(); }

    bool held() const { return gate_ != nullptr; }
    explicit operator bool() const { return held(); }
    void Release();

   private:
    friend class CountingGate;
    explicit Permit(CountingGate* gate) : gate_(gate) {}
    CountingGate* gate_ = nullptr;
  };

  // Waits at most `timeout` for a place; an empty Permit if none became free in time (a zero
  // timeout only takes a free place).
  Permit AcquireFor(std::chrono::steady_clock::duration timeout);
  Permit AcquireUntil(std::chrono::steady_clock::time_point deadline);

  size_t capacity() const { return capacity_; }
  size_t in_use() const;   // permits held now
  size_t waiting() const;  // callers waiting for a permit now

 private:
  struct Waiter {
    std::condition_variable cv;
    bool granted = false;
  };
  void ReleaseOne();

  const size_t capacity_;
  mutable std::mutex mu_;
  size_t free_;
  std::list<Waiter*> queue_;  // oldest first; each lives on its waiting caller's stack
};

}  // namespace cityhub::util
