// sanpath_rbd: librbd/librados for Node.js. Exports connect(options) → Promise<Cluster>.
#include <napi.h>

#include "addon_data.h"
#include "cluster.h"
#include "connect_worker.h"

namespace sanpath {
namespace {

Napi::Value Connect(const Napi::CallbackInfo& info) {
  ConnectOptions options = ParseConnectOptions(info.Env(), info[0]);
  auto* worker = new ConnectWorker(info.Env(), std::move(options));
  worker->Queue();
  return worker->Promise();
}

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* data = new AddonData();
  data->cluster_constructor = Napi::Persistent(Cluster::DefineClass(env));
  env.SetInstanceData(data);
  exports.Set("connect", Napi::Function::New(env, Connect, "connect"));
  return exports;
}

}  // namespace sanpath

static Napi::Object InitSanpathRbd(Napi::Env env, Napi::Object exports) { return sanpath::Init(env, exports); }

NODE_API_MODULE(sanpath_rbd, InitSanpathRbd)
