#include "net_operation.h"

#include <cerrno>
#include <new>
#include <system_error>
#include <thread>
#include <utility>

namespace sanpath::net {
namespace {

struct PendingOperation {
  std::unique_ptr<NetOperation> operation;
  Napi::Promise::Deferred deferred;
};

void SettleOnJavaScriptThread(Napi::Env env, Napi::Function, std::nullptr_t*, PendingOperation* pending) {
  std::unique_ptr<PendingOperation> owned(pending);
  if (static_cast<napi_env>(env) == nullptr) return;  // the environment is going away: nobody waits
  Napi::HandleScope scope(env);
  owned->operation->Settle(env, owned->deferred);
}

using SettleFunction = Napi::TypedThreadSafeFunction<std::nullptr_t, PendingOperation, SettleOnJavaScriptThread>;

}  // namespace

NetOperation::NetOperation(std::string op, NetTarget target)
    : op_(std::move(op)), target_(std::move(target)), deadline_(target_.timeout_ms) {}

void NetOperation::Run() {
  try {
    Execute(deadline_);
  } catch (const StepFailed& failure) {
    failed_ = true;
    failure_ = NetFailure{op_, failure.step(), failure.err(), target_.netns, failure.detail()};
  } catch (const std::bad_alloc&) {
    failed_ = true;
    failure_ = NetFailure{op_, "allocate", -ENOMEM, target_.netns, ""};
  } catch (const std::exception& unexpected) {
    failed_ = true;
    failure_ = NetFailure{op_, "internal", -EIO, target_.netns, unexpected.what()};
  }
}

void NetOperation::Settle(Napi::Env env, const Napi::Promise::Deferred& deferred) const {
  if (failed_) {
    deferred.Reject(MakeNetError(env, failure_).Value());
  } else {
    deferred.Resolve(Result(env));
  }
}

NetFailure NetOperation::FailureToStart(int positive_errno) const {
  return NetFailure{op_, "thread", -positive_errno, target_.netns, "cannot start the operation's thread"};
}

Napi::Promise StartOnOwnThread(Napi::Env env, std::unique_ptr<NetOperation> operation) {
  Napi::Promise::Deferred deferred = Napi::Promise::Deferred::New(env);
  auto pending = std::make_unique<PendingOperation>(PendingOperation{std::move(operation), deferred});
  SettleFunction settle = SettleFunction::New(env, "sanpath_net", 0, 1);
  // A call held up in the kernel must not keep the process from exiting: native/net.ts keeps its
  // own timer for the caller's deadline.
  settle.Unref(env);
  PendingOperation* handed = pending.get();
  try {
    std::thread([settle, handed]() {
      handed->operation->Run();
      // Closed when this thread ends, after the hand-over: `handed` may be gone by then.
      std::vector<UniqueFd> sockets_to_close = handed->operation->TakeSocketsToClose();
      if (settle.BlockingCall(handed) != napi_ok) delete handed;
      settle.Release();
    }).detach();
    (void)pending.release();
  } catch (const std::system_error& error) {
    settle.Release();
    deferred.Reject(MakeNetError(env, pending->operation->FailureToStart(error.code().value())).Value());
  }
  return deferred.Promise();
}

}  // namespace sanpath::net
