#include "image_workers.h"

#include <cerrno>
#include <cstring>
#include <utility>

#include "cluster.h"

namespace sanpath {
namespace {

// Closes an open image when the operation ends, however it ends.
class OpenImage {
 public:
  OpenImage() = default;
  ~OpenImage() {
    if (image_ != nullptr) rbd_close(image_);
  }
  OpenImage(const OpenImage&) = delete;
  OpenImage& operator=(const OpenImage&) = delete;

  int Open(rados_ioctx_t ioctx, const std::string& name) {
    return rbd_open(ioctx, name.c_str(), &image_, nullptr);
  }
  // Read-only: no watch is registered, so readers never show up as watchers of the image.
  int OpenReadOnly(rados_ioctx_t ioctx, const std::string& name) {
    return rbd_open_read_only(ioctx, name.c_str(), &image_, nullptr);
  }
  rbd_image_t get() const { return image_; }

 private:
  rbd_image_t image_ = nullptr;
};

int IgnoreProgress(uint64_t, uint64_t, void*) { return 0; }

// Splits a buffer of NUL-terminated strings of `length` bytes.
std::vector<std::string> SplitNulTerminated(const std::vector<char>& buffer, size_t length) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start < length) {
    size_t end = start;
    while (end < length && buffer[end] != '\0') end++;
    parts.emplace_back(buffer.data() + start, end - start);
    start = end + 1;
  }
  return parts;
}

// The largest xattr value read: PetaSAN's records are a few KiB; OSDs refuse far less than this.
constexpr size_t kMaxXattrBytes = 64 * 1024 * 1024;

// The name of the image's header object: "rbd_header.<id>" (format 2) or "<name>.rbd" (format 1,
// where rbd_get_id answers EINVAL). On failure returns a negative errno and sets *step.
int HeaderObjectOf(rados_ioctx_t ioctx, const std::string& name, std::string* object, const char** step) {
  OpenImage image;
  int result = image.OpenReadOnly(ioctx, name);
  if (result < 0) {
    *step = "rbd_open_read_only";
    return result;
  }
  std::vector<char> id(64);
  while (true) {
    result = rbd_get_id(image.get(), id.data(), id.size());
    if (result == -ERANGE && id.size() < 4096) {
      id.resize(id.size() * 2);
      continue;
    }
    if (result == -EINVAL) {
      *object = name + ".rbd";
      return 0;
    }
    if (result < 0) {
      *step = "rbd_get_id";
      return result;
    }
    *object = std::string("rbd_header.") + std::string(id.data(), strnlen(id.data(), id.size()));
    return 0;
  }
}

}  // namespace

ClusterOpWorker::ClusterOpWorker(Napi::Env env, Cluster* cluster, const char* op, std::string pool,
                                 std::string image)
    : Napi::AsyncWorker(env, op),
      op_(op),
      pool_(std::move(pool)),
      image_(std::move(image)),
      deferred_(Napi::Promise::Deferred::New(env)),
      cluster_(cluster),
      cluster_ref_(Napi::Persistent(cluster->Value())),
      state_(cluster->state()) {
  failure_.op = op;
  failure_.pool = pool_;
  failure_.image = image_;
}

Napi::Value ClusterOpWorker::Result(Napi::Env env) { return env.Undefined(); }

void ClusterOpWorker::Fail(const char* step, int err, std::string detail) {
  failed_ = true;
  failure_.step = step;
  failure_.err = err;
  failure_.detail = std::move(detail);
}

void ClusterOpWorker::Execute() {
  rados_ioctx_t ioctx = nullptr;
  int result = state_->IoctxFor(pool_, &ioctx);
  if (result < 0) {
    Fail("open_pool", result, result == -ENOENT ? "the pool does not exist" : "");
    return;
  }
  Run(ioctx);
}

void ClusterOpWorker::OnOK() {
  Napi::Env env = Env();
  Napi::HandleScope scope(env);
  if (failed_) {
    deferred_.Reject(MakeOpError(env, failure_).Value());
  } else {
    deferred_.Resolve(Result(env));
  }
  cluster_->OperationSettled();
}

void ClusterOpWorker::OnError(const Napi::Error& error) {
  deferred_.Reject(error.Value());
  cluster_->OperationSettled();
}

CreateImageWorker::CreateImageWorker(Napi::Env env, Cluster* cluster, std::string pool, std::string image,
                                     uint64_t size, int order)
    : ClusterOpWorker(env, cluster, "create", std::move(pool), std::move(image)), size_(size), order_(order) {}

void CreateImageWorker::Run(rados_ioctx_t ioctx) {
  // Format 2 with layering only: tgtd's rbd backing store and krbd open such images; exclusive-lock,
  // object-map, fast-diff and deep-flatten stay off.
  rbd_image_options_t options;
  rbd_image_options_create(&options);
  rbd_image_options_set_uint64(options, RBD_IMAGE_OPTION_FORMAT, 2);
  rbd_image_options_set_uint64(options, RBD_IMAGE_OPTION_FEATURES, RBD_FEATURE_LAYERING);
  if (order_ > 0) rbd_image_options_set_uint64(options, RBD_IMAGE_OPTION_ORDER, static_cast<uint64_t>(order_));
  int result = rbd_create4(ioctx, image_.c_str(), size_, options);
  rbd_image_options_destroy(options);
  if (result < 0) Fail("rbd_create4", result);
}

StatImageWorker::StatImageWorker(Napi::Env env, Cluster* cluster, std::string pool, std::string image)
    : ClusterOpWorker(env, cluster, "stat", std::move(pool), std::move(image)) {}

void StatImageWorker::Run(rados_ioctx_t ioctx) {
  OpenImage image;
  int result = image.OpenReadOnly(ioctx, image_);
  if (result < 0) return Fail("rbd_open_read_only", result);
  result = rbd_stat(image.get(), &info_, sizeof(info_));
  if (result < 0) return Fail("rbd_stat", result);
  result = rbd_get_features(image.get(), &features_);
  if (result < 0) return Fail("rbd_get_features", result);
}

Napi::Value StatImageWorker::Result(Napi::Env env) {
  Napi::Object stat = Napi::Object::New(env);
  stat.Set("sizeBytes", Napi::Number::New(env, static_cast<double>(info_.size)));
  stat.Set("objectSizeBytes", Napi::Number::New(env, static_cast<double>(info_.obj_size)));
  stat.Set("order", Napi::Number::New(env, info_.order));
  stat.Set("features", Napi::Number::New(env, static_cast<double>(features_)));
  return stat;
}

ResizeImageWorker::ResizeImageWorker(Napi::Env env, Cluster* cluster, std::string pool, std::string image,
                                     uint64_t size)
    : ClusterOpWorker(env, cluster, "resize", std::move(pool), std::move(image)), size_(size) {}

void ResizeImageWorker::Run(rados_ioctx_t ioctx) {
  OpenImage image;
  int result = image.Open(ioctx, image_);
  if (result < 0) return Fail("rbd_open", result);
  // allow_shrink=false: librbd itself refuses to lose data, whatever the caller checked before.
  result = rbd_resize2(image.get(), size_, false, IgnoreProgress, nullptr);
  if (result < 0) return Fail("rbd_resize2", result, result == -EINVAL ? "shrinking is not allowed" : "");
}

RemoveImageWorker::RemoveImageWorker(Napi::Env env, Cluster* cluster, std::string pool, std::string image)
    : ClusterOpWorker(env, cluster, "remove", std::move(pool), std::move(image)) {}

void RemoveImageWorker::Run(rados_ioctx_t ioctx) {
  int result = rbd_remove(ioctx, image_.c_str());
  if (result < 0) Fail("rbd_remove", result, result == -EBUSY ? "the image has watchers" : "");
}

ListImagesWorker::ListImagesWorker(Napi::Env env, Cluster* cluster, std::string pool)
    : ClusterOpWorker(env, cluster, "list", std::move(pool), "") {}

void ListImagesWorker::Run(rados_ioctx_t ioctx) {
  size_t capacity = 64;
  while (true) {
    std::vector<rbd_image_spec_t> specs(capacity);
    size_t count = capacity;
    int result = rbd_list2(ioctx, specs.data(), &count);
    if (result == -ERANGE) {
      capacity = count > capacity ? count : capacity * 2;
      continue;
    }
    if (result < 0) return Fail("rbd_list2", result);
    names_.reserve(count);
    for (size_t i = 0; i < count; i++) names_.emplace_back(specs[i].name);
    rbd_image_spec_list_cleanup(specs.data(), count);
    return;
  }
}

Napi::Value ListImagesWorker::Result(Napi::Env env) {
  Napi::Array names = Napi::Array::New(env, names_.size());
  for (size_t i = 0; i < names_.size(); i++) names.Set(static_cast<uint32_t>(i), names_[i]);
  return names;
}

GetMetadataWorker::GetMetadataWorker(Napi::Env env, Cluster* cluster, std::string pool, std::string image,
                                     std::string key)
    : ClusterOpWorker(env, cluster, "metadata_get", std::move(pool), std::move(image)), key_(std::move(key)) {}

void GetMetadataWorker::Run(rados_ioctx_t ioctx) {
  OpenImage image;
  int result = image.OpenReadOnly(ioctx, image_);
  if (result < 0) return Fail("rbd_open_read_only", result);
  std::vector<char> buffer(4096);
  while (true) {
    size_t length = buffer.size();
    result = rbd_metadata_get(image.get(), key_.c_str(), buffer.data(), &length);
    if (result == -ERANGE) {
      buffer.resize(length > buffer.size() ? length : buffer.size() * 2);
      continue;
    }
    if (result == -ENOENT) return;  // the image exists, the key does not
    if (result < 0) return Fail("rbd_metadata_get", result, "key " + key_);
    // On success librbd leaves `length` as the buffer size: the value ends at its NUL.
    found_ = true;
    value_.assign(buffer.data(), strnlen(buffer.data(), buffer.size()));
    return;
  }
}

Napi::Value GetMetadataWorker::Result(Napi::Env env) {
  if (!found_) return env.Null();
  return Napi::String::New(env, value_);
}

SetMetadataWorker::SetMetadataWorker(Napi::Env env, Cluster* cluster, std::string pool, std::string image,
                                     std::string key, std::string value)
    : ClusterOpWorker(env, cluster, "metadata_set", std::move(pool), std::move(image)),
      key_(std::move(key)),
      value_(std::move(value)) {}

void SetMetadataWorker::Run(rados_ioctx_t ioctx) {
  OpenImage image;
  int result = image.Open(ioctx, image_);
  if (result < 0) return Fail("rbd_open", result);
  result = rbd_metadata_set(image.get(), key_.c_str(), value_.c_str());
  if (result < 0) return Fail("rbd_metadata_set", result, "key " + key_);
}

RemoveMetadataWorker::RemoveMetadataWorker(Napi::Env env, Cluster* cluster, std::string pool,
                                           std::string image, std::string key)
    : ClusterOpWorker(env, cluster, "metadata_remove", std::move(pool), std::move(image)),
      key_(std::move(key)) {}

void RemoveMetadataWorker::Run(rados_ioctx_t ioctx) {
  OpenImage image;
  int result = image.Open(ioctx, image_);
  if (result < 0) return Fail("rbd_open", result);
  result = rbd_metadata_remove(image.get(), key_.c_str());
  if (result == -ENOENT) return;  // the image exists, the key did not
  if (result < 0) return Fail("rbd_metadata_remove", result, "key " + key_);
  removed_ = true;
}

Napi::Value RemoveMetadataWorker::Result(Napi::Env env) { return Napi::Boolean::New(env, removed_); }

ListMetadataWorker::ListMetadataWorker(Napi::Env env, Cluster* cluster, std::string pool, std::string image)
    : ClusterOpWorker(env, cluster, "metadata_list", std::move(pool), std::move(image)) {}

void ListMetadataWorker::Run(rados_ioctx_t ioctx) {
  OpenImage image;
  int result = image.OpenReadOnly(ioctx, image_);
  if (result < 0) return Fail("rbd_open_read_only", result);
  std::vector<char> keys(4096);
  std::vector<char> values(16384);
  while (true) {
    size_t keys_length = keys.size();
    size_t values_length = values.size();
    // max = 0: every entry in one call; -ERANGE reports the lengths needed.
    result = rbd_metadata_list(image.get(), "", 0, keys.data(), &keys_length, values.data(), &values_length);
    if (result == -ERANGE) {
      keys.resize(keys_length > keys.size() ? keys_length : keys.size() * 2);
      values.resize(values_length > values.size() ? values_length : values.size() * 2);
      continue;
    }
    if (result < 0) return Fail("rbd_metadata_list", result);
    std::vector<std::string> key_list = SplitNulTerminated(keys, keys_length);
    std::vector<std::string> value_list = SplitNulTerminated(values, values_length);
    if (key_list.size() != value_list.size()) {
      return Fail("rbd_metadata_list", -EIO, "librbd returned " + std::to_string(key_list.size()) +
                                                 " keys but " + std::to_string(value_list.size()) + " values");
    }
    for (size_t i = 0; i < key_list.size(); i++) entries_.emplace_back(key_list[i], value_list[i]);
    return;
  }
}

Napi::Value ListMetadataWorker::Result(Napi::Env env) {
  Napi::Array entries = Napi::Array::New(env, entries_.size());
  for (size_t i = 0; i < entries_.size(); i++) {
    Napi::Array pair = Napi::Array::New(env, 2);
    pair.Set(0u, entries_[i].first);
    pair.Set(1u, entries_[i].second);
    entries.Set(static_cast<uint32_t>(i), pair);
  }
  return entries;
}

GetHeaderXattrWorker::GetHeaderXattrWorker(Napi::Env env, Cluster* cluster, std::string pool,
                                           std::string image, std::string key)
    : ClusterOpWorker(env, cluster, "xattr_get", std::move(pool), std::move(image)), key_(std::move(key)) {}

void GetHeaderXattrWorker::Run(rados_ioctx_t ioctx) {
  std::string object;
  const char* step = "";
  int result = HeaderObjectOf(ioctx, image_, &object, &step);
  if (result < 0) return Fail(step, result);
  std::vector<char> buffer(4096);
  while (true) {
    // A value larger than the buffer is -ERANGE, without its size: try again with twice as much.
    result = rados_getxattr(ioctx, object.c_str(), key_.c_str(), buffer.data(), buffer.size());
    if (result == -ERANGE && buffer.size() < kMaxXattrBytes) {
      buffer.resize(buffer.size() * 2);
      continue;
    }
    if (result == -ENODATA) return;  // the image exists, the attribute does not
    if (result < 0) return Fail("rados_getxattr", result, "object " + object + ", attribute " + key_);
    found_ = true;
    value_.assign(buffer.data(), static_cast<size_t>(result));
    return;
  }
}

Napi::Value GetHeaderXattrWorker::Result(Napi::Env env) {
  if (!found_) return env.Null();
  return Napi::String::New(env, value_);
}

SetHeaderXattrWorker::SetHeaderXattrWorker(Napi::Env env, Cluster* cluster, std::string pool,
                                           std::string image, std::string key, std::string value)
    : ClusterOpWorker(env, cluster, "xattr_set", std::move(pool), std::move(image)),
      key_(std::move(key)),
      value_(std::move(value)) {}

void SetHeaderXattrWorker::Run(rados_ioctx_t ioctx) {
  std::string object;
  const char* step = "";
  int result = HeaderObjectOf(ioctx, image_, &object, &step);
  if (result < 0) return Fail(step, result);
  // rados_setxattr alone would create the object should the image be removed meanwhile: assert
  // that the header still exists in the same operation (-ENOENT otherwise).
  rados_write_op_t op = rados_create_write_op();
  if (op == nullptr) return Fail("rados_create_write_op", -ENOMEM);
  rados_write_op_assert_exists(op);
  rados_write_op_setxattr(op, key_.c_str(), value_.data(), value_.size());
  result = rados_write_op_operate(op, ioctx, object.c_str(), nullptr, LIBRADOS_OPERATION_NOFLAG);
  rados_release_write_op(op);
  if (result < 0) return Fail("rados_write_op_operate", result, "object " + object + ", attribute " + key_);
}

ShutdownWorker::ShutdownWorker(Napi::Env env, std::shared_ptr<ClusterState> state,
                               Napi::Promise::Deferred closed)
    : Napi::AsyncWorker(env, "close"), state_(std::move(state)), closed_(closed) {}

void ShutdownWorker::Execute() { state_->Shutdown(); }

void ShutdownWorker::OnOK() {
  Napi::HandleScope scope(Env());
  closed_.Resolve(Env().Undefined());
}

}  // namespace sanpath
