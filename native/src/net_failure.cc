#include "net_failure.h"

#include <cerrno>
#include <cstring>

namespace sanpath::net {

const char* ErrnoName(int positive_errno) {
  switch (positive_errno) {
    case 0: return "OK";
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case EINTR: return "EINTR";
    case EIO: return "EIO";
    case EBADF: return "EBADF";
    case EAGAIN: return "EAGAIN";
    case ENOMEM: return "ENOMEM";
    case EACCES: return "EACCES";
    case EBUSY: return "EBUSY";
    case EEXIST: return "EEXIST";
    case ENODEV: return "ENODEV";
    case EINVAL: return "EINVAL";
    case ENFILE: return "ENFILE";
    case EMFILE: return "EMFILE";
    case ENOSPC: return "ENOSPC";
    case ERANGE: return "ERANGE";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case EPROTO: return "EPROTO";
    case EMSGSIZE: return "EMSGSIZE";
    case EPROTONOSUPPORT: return "EPROTONOSUPPORT";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    case EAFNOSUPPORT: return "EAFNOSUPPORT";
    case EADDRINUSE: return "EADDRINUSE";
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    case ENETDOWN: return "ENETDOWN";
    case ENETUNREACH: return "ENETUNREACH";
    case ENOBUFS: return "ENOBUFS";
    case ETIMEDOUT: return "ETIMEDOUT";
    default: return "EUNKNOWN";
  }
}

Napi::Error MakeNetError(Napi::Env env, const NetFailure& failure) {
  const int positive = -failure.err;
  std::string message = "net " + failure.op;
  if (!failure.netns.empty()) message += " in network namespace " + failure.netns;
  message += " failed in " + failure.step + ": " + std::strerror(positive) + " (" + ErrnoName(positive) + ")";
  if (!failure.detail.empty()) message += ": " + failure.detail;
  Napi::Error error = Napi::Error::New(env, message);
  Napi::Object object = error.Value();
  object.Set("op", failure.op);
  object.Set("step", failure.step);
  object.Set("errno", Napi::Number::New(env, failure.err));
  object.Set("code", ErrnoName(positive));
  if (!failure.netns.empty()) object.Set("netns", failure.netns);
  if (!failure.detail.empty()) object.Set("detail", failure.detail);
  return error;
}

}  // namespace sanpath::net
