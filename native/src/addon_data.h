// Per-environment state of the addon (worker threads and multiple environments safe).
#pragma once

#include <napi.h>

namespace sanpath {

struct AddonData {
  Napi::FunctionReference cluster_constructor;
};

}  // namespace sanpath
