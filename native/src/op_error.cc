#include "op_error.h"

#include <cerrno>
#include <cstring>

namespace sanpath {
namespace {

const char* ErrnoName(int positive) {
  switch (positive) {
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case EIO: return "EIO";
    case EAGAIN: return "EAGAIN";
    case EACCES: return "EACCES";
    case EBUSY: return "EBUSY";
    case EEXIST: return "EEXIST";
    case EINVAL: return "EINVAL";
    case ENOSPC: return "ENOSPC";
    case EROFS: return "EROFS";
    case ERANGE: return "ERANGE";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case ENOTCONN: return "ENOTCONN";
    case ESHUTDOWN: return "ESHUTDOWN";
    case ETIMEDOUT: return "ETIMEDOUT";
    case ECONNREFUSED: return "ECONNREFUSED";
    case EHOSTUNREACH: return "EHOSTUNREACH";
    case EDQUOT: return "EDQUOT";
    case ENODATA: return "ENODATA";
    case ENOMEM: return "ENOMEM";
    default: return "EUNKNOWN";
  }
}

std::string Target(const OpFailure& failure) {
  if (failure.pool.empty()) return "";
  if (failure.image.empty()) return " " + failure.pool;
  return " " + failure.pool + "/" + failure.image;
}

}  // namespace

Napi::Error MakeOpError(Napi::Env env, const OpFailure& failure) {
  const int positive = -failure.err;
  std::string message = "rbd " + failure.op + Target(failure) + " failed in " + failure.step + ": " +
                        std::strerror(positive) + " (errno " + std::to_string(failure.err) + ")";
  if (!failure.detail.empty()) message += ": " + failure.detail;
  Napi::Error error = Napi::Error::New(env, message);
  Napi::Object object = error.Value();
  object.Set("op", failure.op);
  object.Set("step", failure.step);
  if (!failure.pool.empty()) object.Set("pool", failure.pool);
  if (!failure.image.empty()) object.Set("image", failure.image);
  object.Set("errno", Napi::Number::New(env, failure.err));
  object.Set("code", ErrnoName(positive));
  return error;
}

}  // namespace sanpath
