// One call of the net addon, run on a thread of its own: never on the JavaScript thread, and not on
// libuv's pool either, whose few threads a call held up in the kernel (rtnl lock) would take from
// file I/O. The operation settles its promise on the JavaScript thread when it ends.
#pragma once

#include <napi.h>

#include <memory>
#include <string>
#include <vector>

#include "net_deadline.h"
#include "net_failure.h"
#include "net_fd.h"

namespace sanpath::net {

// Where and how long: the namespace to act in ("" = the process's own) and the timeout.
struct NetTarget {
  std::string netns;
  int timeout_ms = 0;
};

class NetOperation {
 public:
  NetOperation(std::string op, NetTarget target);
  virtual ~NetOperation() = default;
  NetOperation(const NetOperation&) = delete;
  NetOperation& operator=(const NetOperation&) = delete;

  // On the operation's thread: runs Execute and keeps its failure.
  void Run();
  // On the JavaScript thread: resolves with Result() or rejects with the failure.
  void Settle(Napi::Env env, const Napi::Promise::Deferred& deferred) const;
  // The failure when the thread cannot even be started.
  NetFailure FailureToStart(int positive_errno) const;
  // On the operation's thread, before it hands the result over: what CloseAfterSettling kept.
  std::vector<UniqueFd> TakeSocketsToClose() { return std::move(sockets_to_close_); }

 protected:
  // Throws StepFailed.
  virtual void Execute(const Deadline& deadline) = 0;
  virtual Napi::Value Result(Napi::Env env) const = 0;
  const std::string& netns() const { return target_.netns; }
  // Closes the socket on the operation's thread once the promise is on its way: closing a packet
  // socket waits for an RCU grace period (synchronize_net), often milliseconds.
  void CloseAfterSettling(UniqueFd socket) { sockets_to_close_.push_back(std::move(socket)); }

 private:
  std::string op_;
  NetTarget target_;
  Deadline deadline_;
  bool failed_ = false;
  NetFailure failure_;
  std::vector<UniqueFd> sockets_to_close_;
};

// Starts the operation on a new thread and returns the promise it settles.
Napi::Promise StartOnOwnThread(Napi::Env env, std::unique_ptr<NetOperation> operation);

}  // namespace sanpath::net
