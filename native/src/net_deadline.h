// The moment an operation of the net addon must have ended by.
#pragma once

#include <chrono>

namespace sanpath::net {

class Deadline {
 public:
  explicit Deadline(int timeout_ms)
      : end_(std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms)) {}

  // Whole milliseconds left, rounded up (so that a wait never ends just before the deadline); 0 once it passed.
  int RemainingMs() const {
    auto left = std::chrono::ceil<std::chrono::milliseconds>(end_ - std::chrono::steady_clock::now());
    return left.count() > 0 ? static_cast<int>(left.count()) : 0;
  }

 private:
  std::chrono::steady_clock::time_point end_;
};

}  // namespace sanpath::net
