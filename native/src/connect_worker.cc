#include "connect_worker.h"

#include <cmath>

#include "cluster.h"

namespace sanpath {
namespace {

std::string OptionalString(const Napi::Env& env, const Napi::Object& object, const char* name) {
  Napi::Value value = object.Get(name);
  if (value.IsUndefined() || value.IsNull()) return "";
  if (!value.IsString()) throw Napi::TypeError::New(env, std::string("connect: ") + name + " must be a string");
  return value.As<Napi::String>().Utf8Value();
}

// Whole seconds >= 1, as librados parses them.
std::string Seconds(const Napi::Env& env, const Napi::Object& object, const char* name) {
  Napi::Value value = object.Get(name);
  if (!value.IsNumber()) throw Napi::TypeError::New(env, std::string("connect: ") + name + " must be a number");
  double seconds = value.As<Napi::Number>().DoubleValue();
  if (!(seconds >= 1) || seconds > 86400 || std::floor(seconds) != seconds) {
    throw Napi::RangeError::New(env, std::string("connect: ") + name + " must be whole seconds in 1..86400");
  }
  return std::to_string(static_cast<long long>(seconds));
}

}  // namespace

ConnectOptions ParseConnectOptions(const Napi::Env& env, const Napi::Value& value) {
  if (!value.IsObject()) throw Napi::TypeError::New(env, "connect: options must be an object");
  Napi::Object object = value.As<Napi::Object>();
  ConnectOptions options;
  options.user_id = OptionalString(env, object, "userId");
  if (options.user_id.empty()) throw Napi::TypeError::New(env, "connect: userId must not be empty");
  options.conf_path = OptionalString(env, object, "confPath");
  std::string mon_host = OptionalString(env, object, "monHost");
  if (options.conf_path.empty() && mon_host.empty()) {
    throw Napi::TypeError::New(env, "connect: give confPath or monHost");
  }
  // Clients never open an admin socket: tgtd and the rbd CLI on the same host would collide.
  options.settings.emplace_back("admin_socket", "");
  // Failures reach JavaScript as rejected promises; raw Ceph lines on stderr would only garble
  // the daemon's JSON log. `config` can turn them back on.
  options.settings.emplace_back("log_to_stderr", "false");
  options.settings.emplace_back("err_to_stderr", "false");
  if (!mon_host.empty()) options.settings.emplace_back("mon_host", mon_host);
  std::string keyring_path = OptionalString(env, object, "keyringPath");
  if (!keyring_path.empty()) options.settings.emplace_back("keyring", keyring_path);
  std::string key = OptionalString(env, object, "key");
  if (!key.empty()) options.settings.emplace_back("key", key);
  options.settings.emplace_back("client_mount_timeout", Seconds(env, object, "clientMountTimeoutSec"));
  options.settings.emplace_back("rados_mon_op_timeout", Seconds(env, object, "monOpTimeoutSec"));
  options.settings.emplace_back("rados_osd_op_timeout", Seconds(env, object, "osdOpTimeoutSec"));
  Napi::Value extra = object.Get("config");
  if (!extra.IsUndefined() && !extra.IsNull()) {
    if (!extra.IsObject()) throw Napi::TypeError::New(env, "connect: config must be an object of strings");
    Napi::Object config = extra.As<Napi::Object>();
    Napi::Array names = config.GetPropertyNames();
    for (uint32_t i = 0; i < names.Length(); i++) {
      Napi::Value name = names.Get(i);
      Napi::Value setting = config.Get(name);
      if (!setting.IsString()) throw Napi::TypeError::New(env, "connect: config values must be strings");
      options.settings.emplace_back(name.ToString().Utf8Value(), setting.As<Napi::String>().Utf8Value());
    }
  }
  return options;
}

ConnectWorker::ConnectWorker(Napi::Env env, ConnectOptions options)
    : Napi::AsyncWorker(env, "connect"),
      deferred_(Napi::Promise::Deferred::New(env)),
      options_(std::move(options)) {
  failure_.op = "connect";
}

void ConnectWorker::Fail(const char* step, int err, std::string detail) {
  failed_ = true;
  failure_.step = step;
  failure_.err = err;
  failure_.detail = std::move(detail);
}

void ConnectWorker::Execute() {
  int result = rados_create(&cluster_, options_.user_id.c_str());
  if (result < 0) {
    cluster_ = nullptr;
    return Fail("rados_create", result, "user " + options_.user_id);
  }
  if (!options_.conf_path.empty()) {
    result = rados_conf_read_file(cluster_, options_.conf_path.c_str());
    if (result < 0) {
      Fail("rados_conf_read_file", result, options_.conf_path);
    }
  }
  for (const auto& setting : options_.settings) {
    if (failed_) break;
    result = rados_conf_set(cluster_, setting.first.c_str(), setting.second.c_str());
    if (result < 0) Fail("rados_conf_set", result, "option " + setting.first);
  }
  if (!failed_) {
    result = rados_connect(cluster_);
    if (result < 0) Fail("rados_connect", result, "");
  }
  if (failed_) {
    rados_shutdown(cluster_);
    cluster_ = nullptr;
  }
}

void ConnectWorker::OnOK() {
  Napi::Env env = Env();
  Napi::HandleScope scope(env);
  if (failed_) {
    deferred_.Reject(MakeOpError(env, failure_).Value());
    return;
  }
  deferred_.Resolve(Cluster::NewInstance(env, cluster_));
}

}  // namespace sanpath
