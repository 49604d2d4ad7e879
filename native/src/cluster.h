// The JavaScript class of a connected cluster. Every method returns a Promise; the librados and
// librbd calls behind it run on the libuv thread pool. close() waits for the running operations
// and then shuts librados down, also off the JavaScript thread.
#pragma once

#include <napi.h>
#include <rados/librados.h>

#include <memory>
#include <optional>
#include <string>

#include "cluster_state.h"

namespace sanpath {

class ClusterOpWorker;

class Cluster : public Napi::ObjectWrap<Cluster> {
 public:
  static Napi::Function DefineClass(Napi::Env env);
  // A new JavaScript Cluster that owns `cluster` (connected).
  static Napi::Object NewInstance(Napi::Env env, rados_t cluster);

  explicit Cluster(const Napi::CallbackInfo& info);

  const std::shared_ptr<ClusterState>& state() const { return state_; }
  // Called on the JavaScript thread when an operation started by this cluster has settled.
  void OperationSettled();

 private:
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value CreateImage(const Napi::CallbackInfo& info);
  Napi::Value StatImage(const Napi::CallbackInfo& info);
  Napi::Value ResizeImage(const Napi::CallbackInfo& info);
  Napi::Value RemoveImage(const Napi::CallbackInfo& info);
  Napi::Value ListImages(const Napi::CallbackInfo& info);
  Napi::Value GetMetadata(const Napi::CallbackInfo& info);
  Napi::Value SetMetadata(const Napi::CallbackInfo& info);
  Napi::Value RemoveMetadata(const Napi::CallbackInfo& info);
  Napi::Value ListMetadata(const Napi::CallbackInfo& info);
  Napi::Value GetHeaderXattr(const Napi::CallbackInfo& info);
  Napi::Value SetHeaderXattr(const Napi::CallbackInfo& info);

  // A promise rejected with ESHUTDOWN: the cluster is closing or closed.
  Napi::Value RejectClosed(Napi::Env env, const char* op, const std::string& pool, const std::string& image);
  // Counts a new worker as running, queues it and returns its promise.
  Napi::Value Start(ClusterOpWorker* worker);
  void QueueShutdownIfIdle(Napi::Env env);

  std::shared_ptr<ClusterState> state_;
  bool closing_ = false;
  bool shutdown_queued_ = false;
  int running_ = 0;
  std::optional<Napi::Promise::Deferred> pending_close_;  // until the shutdown is queued
  Napi::ObjectReference close_promise_;                     // what every close() call returns
};

}  // namespace sanpath
