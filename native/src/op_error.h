// A failed librados/librbd call, described so that JavaScript can map it to a domain error.
#pragma once

#include <napi.h>

#include <string>

namespace sanpath {

struct OpFailure {
  std::string op;     // the operation the caller asked for, e.g. "metadata_get"
  std::string step;   // the library call that failed, e.g. "open_image", "rbd_metadata_get"
  std::string pool;   // empty when the operation has no pool
  std::string image;  // empty when the operation has no image
  int err = 0;        // negative errno
  std::string detail; // extra context for the message, may be empty
};

// An Error whose message names op, pool/image and errno, with the fields as properties:
// { op, step, pool?, image?, errno (negative), code ("EEXIST" ...) }.
Napi::Error MakeOpError(Napi::Env env, const OpFailure& failure);

}  // namespace sanpath
