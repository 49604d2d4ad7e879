// One AsyncWorker per operation on a pool or image. Execute() runs on a libuv pool thread and
// only touches C++ state; OnOK() settles the promise on the JavaScript thread.
#pragma once

#include <napi.h>
#include <rados/librados.h>
#include <rbd/librbd.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cluster_state.h"
#include "op_error.h"

namespace sanpath {

class Cluster;

class ClusterOpWorker : public Napi::AsyncWorker {
 public:
  Napi::Promise Promise() const { return deferred_.Promise(); }
  const std::string& op() const { return op_; }

 protected:
  ClusterOpWorker(Napi::Env env, Cluster* cluster, const char* op, std::string pool, std::string image);

  // Runs on a worker thread with the pool's ioctx. On failure call Fail() (or return its value).
  virtual void Run(rados_ioctx_t ioctx) = 0;
  // The value the promise resolves with, built on the JavaScript thread.
  virtual Napi::Value Result(Napi::Env env);
  void Fail(const char* step, int err, std::string detail = "");
  bool failed() const { return failed_; }

  const std::string op_;
  const std::string pool_;
  const std::string image_;

 private:
  void Execute() final;
  void OnOK() final;
  void OnError(const Napi::Error& error) final;

  Napi::Promise::Deferred deferred_;
  Cluster* cluster_;
  Napi::ObjectReference cluster_ref_;  // keeps the Cluster alive while the operation runs
  std::shared_ptr<ClusterState> state_;
  OpFailure failure_;
  bool failed_ = false;
};

class CreateImageWorker : public ClusterOpWorker {
 public:
  CreateImageWorker(Napi::Env env, Cluster* cluster, std::string pool, std::string image, uint64_t size,
                    int order);

 private:
  void Run(rados_ioctx_t ioctx) override;
  const uint64_t size_;
  const int order_;
};

class StatImageWorker : public ClusterOpWorker {
 public:
  StatImageWorker(Napi::Env env, Cluster* cluster, std::string pool, std::string image);

 private:
  void Run(rados_ioctx_t ioctx) override;
  Napi::Value Result(Napi::Env env) override;
  rbd_image_info_t info_{};
  uint64_t features_ = 0;
};

class ResizeImageWorker : public ClusterOpWorker {
 public:
  ResizeImageWorker(Napi::Env env, Cluster* cluster, std::string pool, std::string image, uint64_t size);

 private:
  void Run(rados_ioctx_t ioctx) override;
  const uint64_t size_;
};

class RemoveImageWorker : public ClusterOpWorker {
 public:
  RemoveImageWorker(Napi::Env env, Cluster* cluster, std::string pool, std::string image);

 private:
  void Run(rados_ioctx_t ioctx) override;
};

class ListImagesWorker : public ClusterOpWorker {
 public:
  ListImagesWorker(Napi::Env env, Cluster* cluster, std::string pool);

 private:
  void Run(rados_ioctx_t ioctx) override;
  Napi::Value Result(Napi::Env env) override;
  std::vector<std::string> names_;
};

class GetMetadataWorker : public ClusterOpWorker {
 public:
  GetMetadataWorker(Napi::Env env, Cluster* cluster, std::string pool, std::string image, std::string key);

 private:
  void Run(rados_ioctx_t ioctx) override;
  Napi::Value Result(Napi::Env env) override;
  const std::string key_;
  bool found_ = false;
  std::string value_;
};

class SetMetadataWorker : public ClusterOpWorker {
 public:
  SetMetadataWorker(Napi::Env env, Cluster* cluster, std::string pool, std::string image, std::string key,
                    std::string value);

 private:
  void Run(rados_ioctx_t ioctx) override;
  const std::string key_;
  const std::string value_;
};

class RemoveMetadataWorker : public ClusterOpWorker {
 public:
  RemoveMetadataWorker(Napi::Env env, Cluster* cluster, std::string pool, std::string image,
                       std::string key);

 private:
  void Run(rados_ioctx_t ioctx) override;
  Napi::Value Result(Napi::Env env) override;
  const std::string key_;
  bool removed_ = false;
};

class ListMetadataWorker : public ClusterOpWorker {
 public:
  ListMetadataWorker(Napi::Env env, Cluster* cluster, std::string pool, std::string image);

 private:
  void Run(rados_ioctx_t ioctx) override;
  Napi::Value Result(Napi::Env env) override;
  std::vector<std::pair<std::string, std::string>> entries_;
};

// The header object of an RBD image holds PetaSAN's disk record as an xattr (PetaSAN 1.x writes
// it there with rados setxattr, not as image-meta). Format 2: "rbd_header.<id>"; format 1:
// "<name>.rbd". Both workers open the image read-only first (no watch) to find it.
class GetHeaderXattrWorker : public ClusterOpWorker {
 public:
  GetHeaderXattrWorker(Napi::Env env, Cluster* cluster, std::string pool, std::string image, std::string key);

 private:
  void Run(rados_ioctx_t ioctx) override;
  Napi::Value Result(Napi::Env env) override;
  const std::string key_;
  bool found_ = false;
  std::string value_;
};

class SetHeaderXattrWorker : public ClusterOpWorker {
 public:
  SetHeaderXattrWorker(Napi::Env env, Cluster* cluster, std::string pool, std::string image, std::string key,
                       std::string value);

 private:
  void Run(rados_ioctx_t ioctx) override;
  const std::string key_;
  const std::string value_;
};

// Shuts librados down (queued once no operation runs), then resolves the close() promise.
class ShutdownWorker : public Napi::AsyncWorker {
 public:
  ShutdownWorker(Napi::Env env, std::shared_ptr<ClusterState> state, Napi::Promise::Deferred closed);

 private:
  void Execute() override;
  void OnOK() override;
  std::shared_ptr<ClusterState> state_;
  Napi::Promise::Deferred closed_;
};

}  // namespace sanpath
