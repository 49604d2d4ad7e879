#include "cluster_state.h"

#include <cerrno>
#include <thread>
#include <utility>

namespace sanpath {

ClusterState::ClusterState(rados_t cluster) : cluster_(cluster) {}

ClusterState::~ClusterState() {
  if (shut_down_) return;
  // The JavaScript object was collected (or the environment torn down) without close():
  // rados_shutdown blocks, so never run it on the thread that runs JavaScript.
  rados_t cluster = cluster_;
  std::map<std::string, rados_ioctx_t> ioctxs = std::move(ioctxs_);
  std::thread([cluster, ioctxs]() {
    for (const auto& entry : ioctxs) rados_ioctx_destroy(entry.second);
    rados_shutdown(cluster);
  }).detach();
}

int ClusterState::IoctxFor(const std::string& pool, rados_ioctx_t* ioctx) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (shut_down_) return -ESHUTDOWN;
    auto found = ioctxs_.find(pool);
    if (found != ioctxs_.end()) {
      *ioctx = found->second;
      return 0;
    }
  }
  // Created without the lock: looking a pool up can wait for a new OSD map, and calls on other
  // pools must not wait behind it. Shutdown() cannot run meanwhile (this call counts as running).
  rados_ioctx_t created = nullptr;
  int result = rados_ioctx_create(cluster_, pool.c_str(), &created);
  if (result < 0) return result;
  std::lock_guard<std::mutex> lock(mutex_);
  auto inserted = ioctxs_.emplace(pool, created);
  if (!inserted.second) rados_ioctx_destroy(created);  // another call created it first
  *ioctx = inserted.first->second;
  return 0;
}

void ClusterState::Shutdown() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (shut_down_) return;
  shut_down_ = true;
  for (const auto& entry : ioctxs_) rados_ioctx_destroy(entry.second);
  ioctxs_.clear();
  rados_shutdown(cluster_);
}

}  // namespace sanpath
