// connect(options): creates a librados handle, configures it and connects, off the JavaScript thread.
#pragma once

#include <napi.h>
#include <rados/librados.h>

#include <string>
#include <utility>
#include <vector>

#include "op_error.h"

namespace sanpath {

struct ConnectOptions {
  std::string user_id;  // without "client."
  std::string conf_path;
  // Applied in this order after the conf file, so they override it.
  std::vector<std::pair<std::string, std::string>> settings;
};

// Reads the options object given to connect(); throws a TypeError when it is malformed.
ConnectOptions ParseConnectOptions(const Napi::Env& env, const Napi::Value& value);

class ConnectWorker : public Napi::AsyncWorker {
 public:
  ConnectWorker(Napi::Env env, ConnectOptions options);
  Napi::Promise Promise() const { return deferred_.Promise(); }

 private:
  void Execute() override;
  void OnOK() override;
  void Fail(const char* step, int err, std::string detail);

  Napi::Promise::Deferred deferred_;
  ConnectOptions options_;
  rados_t cluster_ = nullptr;
  bool failed_ = false;
  OpFailure failure_;
};

}  // namespace sanpath
