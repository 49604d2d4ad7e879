#include "cluster.h"

#include <cerrno>
#include <cstdint>
#include <limits>
#include <string>

#include "addon_data.h"
#include "image_workers.h"
#include "op_error.h"

namespace sanpath {
namespace {

std::string StringArgument(const Napi::CallbackInfo& info, size_t index, const char* name) {
  if (info.Length() <= index || !info[index].IsString()) {
    throw Napi::TypeError::New(info.Env(), std::string(name) + " must be a string");
  }
  std::string value = info[index].As<Napi::String>().Utf8Value();
  if (value.empty()) throw Napi::TypeError::New(info.Env(), std::string(name) + " must not be empty");
  return value;
}

uint64_t ByteCountArgument(const Napi::CallbackInfo& info, size_t index, const char* name) {
  if (info.Length() <= index || !info[index].IsNumber()) {
    throw Napi::TypeError::New(info.Env(), std::string(name) + " must be a number");
  }
  double value = info[index].As<Napi::Number>().DoubleValue();
  // 2^53: every integer below it is exact in a double.
  if (!(value >= 0) || value > 9007199254740992.0 || static_cast<double>(static_cast<uint64_t>(value)) != value) {
    throw Napi::RangeError::New(info.Env(), std::string(name) + " must be a whole number of bytes >= 0");
  }
  return static_cast<uint64_t>(value);
}

}  // namespace

Napi::Function Cluster::DefineClass(Napi::Env env) {
  return ObjectWrap<Cluster>::DefineClass(env, "Cluster",
                                          {
                                              InstanceMethod("close", &Cluster::Close),
                                              InstanceMethod("createImage", &Cluster::CreateImage),
                                              InstanceMethod("statImage", &Cluster::StatImage),
                                              InstanceMethod("resizeImage", &Cluster::ResizeImage),
                                              InstanceMethod("removeImage", &Cluster::RemoveImage),
                                              InstanceMethod("listImages", &Cluster::ListImages),
                                              InstanceMethod("getMetadata", &Cluster::GetMetadata),
                                              InstanceMethod("setMetadata", &Cluster::SetMetadata),
                                              InstanceMethod("removeMetadata", &Cluster::RemoveMetadata),
                                              InstanceMethod("listMetadata", &Cluster::ListMetadata),
                                              InstanceMethod("getHeaderXattr", &Cluster::GetHeaderXattr),
                                              InstanceMethod("setHeaderXattr", &Cluster::SetHeaderXattr),
                                          });
}

Napi::Object Cluster::NewInstance(Napi::Env env, rados_t cluster) {
  AddonData* data = env.GetInstanceData<AddonData>();
  return data->cluster_constructor.New({Napi::External<void>::New(env, cluster)});
}

Cluster::Cluster(const Napi::CallbackInfo& info) : ObjectWrap<Cluster>(info) {
  if (info.Length() != 1 || !info[0].IsExternal()) {
    throw Napi::TypeError::New(info.Env(), "a Cluster is made by connect(), not by new");
  }
  state_ = std::make_shared<ClusterState>(static_cast<rados_t>(info[0].As<Napi::External<void>>().Data()));
}

Napi::Value Cluster::RejectClosed(Napi::Env env, const char* op, const std::string& pool,
                                  const std::string& image) {
  OpFailure failure{op, "closed", pool, image, -ESHUTDOWN, "the cluster connection is closed"};
  Napi::Promise::Deferred deferred = Napi::Promise::Deferred::New(env);
  deferred.Reject(MakeOpError(env, failure).Value());
  return deferred.Promise();
}

Napi::Value Cluster::Start(ClusterOpWorker* worker) {
  running_++;
  worker->Queue();
  return worker->Promise();
}

void Cluster::OperationSettled() {
  running_--;
  QueueShutdownIfIdle(Env());
}

void Cluster::QueueShutdownIfIdle(Napi::Env env) {
  if (!closing_ || running_ > 0 || shutdown_queued_ || !pending_close_.has_value()) return;
  shutdown_queued_ = true;
  auto* worker = new ShutdownWorker(env, state_, *pending_close_);
  pending_close_.reset();
  worker->Queue();
}

Napi::Value Cluster::Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!closing_) {
    closing_ = true;
    Napi::Promise::Deferred deferred = Napi::Promise::Deferred::New(env);
    close_promise_ = Napi::Persistent(deferred.Promise().As<Napi::Object>());
    pending_close_.emplace(deferred);
    QueueShutdownIfIdle(env);
  }
  return close_promise_.Value();
}

Napi::Value Cluster::CreateImage(const Napi::CallbackInfo& info) {
  std::string pool = StringArgument(info, 0, "pool");
  std::string image = StringArgument(info, 1, "image");
  uint64_t size = ByteCountArgument(info, 2, "sizeBytes");
  int order = 0;
  if (info.Length() > 3 && !info[3].IsUndefined()) {
    if (!info[3].IsNumber()) throw Napi::TypeError::New(info.Env(), "order must be a number");
    order = info[3].As<Napi::Number>().Int32Value();
    if (order != 0 && (order < 12 || order > 26)) {
      throw Napi::RangeError::New(info.Env(), "order must be 0 (default) or 12..26");
    }
  }
  if (closing_) return RejectClosed(info.Env(), "create", pool, image);
  return Start(new CreateImageWorker(info.Env(), this, pool, image, size, order));
}

Napi::Value Cluster::StatImage(const Napi::CallbackInfo& info) {
  std::string pool = StringArgument(info, 0, "pool");
  std::string image = StringArgument(info, 1, "image");
  if (closing_) return RejectClosed(info.Env(), "stat", pool, image);
  return Start(new StatImageWorker(info.Env(), this, pool, image));
}

Napi::Value Cluster::ResizeImage(const Napi::CallbackInfo& info) {
  std::string pool = StringArgument(info, 0, "pool");
  std::string image = StringArgument(info, 1, "image");
  uint64_t size = ByteCountArgument(info, 2, "sizeBytes");
  if (closing_) return RejectClosed(info.Env(), "resize", pool, image);
  return Start(new ResizeImageWorker(info.Env(), this, pool, image, size));
}

Napi::Value Cluster::RemoveImage(const Napi::CallbackInfo& info) {
  std::string pool = StringArgument(info, 0, "pool");
  std::string image = StringArgument(info, 1, "image");
  if (closing_) return RejectClosed(info.Env(), "remove", pool, image);
  return Start(new RemoveImageWorker(info.Env(), this, pool, image));
}

Napi::Value Cluster::ListImages(const Napi::CallbackInfo& info) {
  std::string pool = StringArgument(info, 0, "pool");
  if (closing_) return RejectClosed(info.Env(), "list", pool, "");
  return Start(new ListImagesWorker(info.Env(), this, pool));
}

Napi::Value Cluster::GetMetadata(const Napi::CallbackInfo& info) {
  std::string pool = StringArgument(info, 0, "pool");
  std::string image = StringArgument(info, 1, "image");
  std::string key = StringArgument(info, 2, "key");
  if (closing_) return RejectClosed(info.Env(), "metadata_get", pool, image);
  return Start(new GetMetadataWorker(info.Env(), this, pool, image, key));
}

Napi::Value Cluster::SetMetadata(const Napi::CallbackInfo& info) {
  std::string pool = StringArgument(info, 0, "pool");
  std::string image = StringArgument(info, 1, "image");
  std::string key = StringArgument(info, 2, "key");
  if (info.Length() <= 3 || !info[3].IsString()) throw Napi::TypeError::New(info.Env(), "value must be a string");
  std::string value = info[3].As<Napi::String>().Utf8Value();
  if (closing_) return RejectClosed(info.Env(), "metadata_set", pool, image);
  return Start(new SetMetadataWorker(info.Env(), this, pool, image, key, value));
}

Napi::Value Cluster::RemoveMetadata(const Napi::CallbackInfo& info) {
  std::string pool = StringArgument(info, 0, "pool");
  std::string image = StringArgument(info, 1, "image");
  std::string key = StringArgument(info, 2, "key");
  if (closing_) return RejectClosed(info.Env(), "metadata_remove", pool, image);
  return Start(new RemoveMetadataWorker(info.Env(), this, pool, image, key));
}

Napi::Value Cluster::ListMetadata(const Napi::CallbackInfo& info) {
  std::string pool = StringArgument(info, 0, "pool");
  std::string image = StringArgument(info, 1, "image");
  if (closing_) return RejectClosed(info.Env(), "metadata_list", pool, image);
  return Start(new ListMetadataWorker(info.Env(), this, pool, image));
}

Napi::Value Cluster::GetHeaderXattr(const Napi::CallbackInfo& info) {
  std::string pool = StringArgument(info, 0, "pool");
  std::string image = StringArgument(info, 1, "image");
  std::string key = StringArgument(info, 2, "key");
  if (closing_) return RejectClosed(info.Env(), "xattr_get", pool, image);
  return Start(new GetHeaderXattrWorker(info.Env(), this, pool, image, key));
}

Napi::Value Cluster::SetHeaderXattr(const Napi::CallbackInfo& info) {
  std::string pool = StringArgument(info, 0, "pool");
  std::string image = StringArgument(info, 1, "image");
  std::string key = StringArgument(info, 2, "key");
  if (info.Length() <= 3 || !info[3].IsString()) throw Napi::TypeError::New(info.Env(), "value must be a string");
  std::string value = info[3].As<Napi::String>().Utf8Value();
  if (closing_) return RejectClosed(info.Env(), "xattr_set", pool, image);
  return Start(new SetHeaderXattrWorker(info.Env(), this, pool, image, key, value));
}

}  // namespace sanpath
