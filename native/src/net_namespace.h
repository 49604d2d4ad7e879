// The calling thread inside a named network namespace (/run/netns/<name>, as `ip netns add` makes
// them) while sockets are created: a socket keeps the namespace it was created in, so the thread
// goes back to its own namespace right after.
#pragma once

#include <string>

namespace sanpath::net {

// Whether `name` can name a namespace under /run/netns (no path: no "/", not "." or "..").
bool IsNamespaceName(const std::string& name);

class NamespaceVisit {
 public:
  // Enters /run/netns/<name>; an empty name stays in the thread's own namespace. Throws StepFailed.
  explicit NamespaceVisit(const std::string& name);
  // Goes back when Leave() was not called (errors cannot be reported from here).
  ~NamespaceVisit();
  NamespaceVisit(const NamespaceVisit&) = delete;
  NamespaceVisit& operator=(const NamespaceVisit&) = delete;

  // Goes back to the namespace the thread came from. Throws StepFailed when it cannot.
  void Leave();

 private:
  int home_fd_ = -1;
};

}  // namespace sanpath::net
