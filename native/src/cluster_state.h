// The librados connection shared by every operation of one Cluster, with one ioctx per pool.
#pragma once

#include <rados/librados.h>

#include <map>
#include <mutex>
#include <string>

namespace sanpath {

class ClusterState {
 public:
  explicit ClusterState(rados_t cluster);
  ~ClusterState();
  ClusterState(const ClusterState&) = delete;
  ClusterState& operator=(const ClusterState&) = delete;

  // The cached ioctx of `pool`, created on first use. Blocking: call from a worker thread only.
  // Returns 0 or a negative errno (-ENOENT: no such pool, -ESHUTDOWN: already shut down).
  int IoctxFor(const std::string& pool, rados_ioctx_t* ioctx);

  // Destroys the ioctxs and shuts librados down. Blocking: call from a worker thread only, and
  // only once no operation is running (Cluster guarantees that). Idempotent.
  void Shutdown();

 private:
  std::mutex mutex_;
  rados_t cluster_;
  bool shut_down_ = false;
  std::map<std::string, rados_ioctx_t> ioctxs_;
};

}  // namespace sanpath
