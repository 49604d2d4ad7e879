// Why a call of the net addon failed as a whole (one address's refusal is an answer, not a failure),
// described so that JavaScript can map it to a domain error (native/net.ts).
#pragma once

#include <napi.h>

#include <exception>
#include <string>
#include <utility>

namespace sanpath::net {

struct NetFailure {
  std::string op;      // the call: "address_add", "address_delete", "address_dump", "link_index", "gratuitous_arp",
                       // "tcp_destroy"
  std::string step;    // what failed: "open_netns", "setns", "socket", "send", "recv", "deadline", "SIOCGIFINDEX", ...
  int err = 0;         // negative errno
  std::string netns;   // empty: the namespace of the process
  std::string detail;  // extra context for the message, may be empty
};

// Thrown on an operation's own thread; the operation turns it into its NetFailure.
class StepFailed : public std::exception {
 public:
  StepFailed(std::string step, int positive_errno, std::string detail = "")
      : step_(std::move(step)), err_(-positive_errno), detail_(std::move(detail)) {}

  const std::string& step() const { return step_; }
  int err() const { return err_; }
  const std::string& detail() const { return detail_; }
  const char* what() const noexcept override { return step_.c_str(); }

 private:
  std::string step_;
  int err_;
  std::string detail_;
};

// "EEXIST", "ENODEV", ... ("EUNKNOWN" for an errno this addon does not expect).
const char* ErrnoName(int positive_errno);

// An Error whose message names op, step, namespace and errno, with the fields as properties:
// { op, step, errno (negative), code ("ENODEV" ...), netns?, detail? }.
Napi::Error MakeNetError(Napi::Env env, const NetFailure& failure);

}  // namespace sanpath::net
