#include "net_namespace.h"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>

#include "net_failure.h"
#include "net_fd.h"

namespace sanpath::net {

bool IsNamespaceName(const std::string& name) {
  if (name.empty() || name.size() > 255 || name == "." || name == "..") return false;
  return name.find('/') == std::string::npos && name.find('\0') == std::string::npos;
}

NamespaceVisit::NamespaceVisit(const std::string& name) {
  if (name.empty()) return;
  if (!IsNamespaceName(name)) throw StepFailed("netns_name", EINVAL, name);
  UniqueFd home(open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  if (!home.valid()) {
    int error = errno;
    throw StepFailed("open_own_netns", error, "/proc/thread-self/ns/net");
  }
  const std::string path = "/run/netns/" + name;
  UniqueFd target(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!target.valid()) {
    int error = errno;
    throw StepFailed("open_netns", error, path);
  }
  if (setns(target.get(), CLONE_NEWNET) != 0) {
    int error = errno;
    throw StepFailed("setns", error, path);
  }
  home_fd_ = home.Release();
}

void NamespaceVisit::Leave() {
  if (home_fd_ < 0) return;
  UniqueFd home(home_fd_);
  home_fd_ = -1;
  if (setns(home.get(), CLONE_NEWNET) != 0) {
    int error = errno;
    throw StepFailed("setns_back", error, "the thread could not return to its own network namespace");
  }
}

NamespaceVisit::~NamespaceVisit() {
  if (home_fd_ < 0) return;
  // Best effort: the thread is the operation's own and ends right after (net_operation.cc).
  (void)setns(home_fd_, CLONE_NEWNET);
  close(home_fd_);
}

}  // namespace sanpath::net
