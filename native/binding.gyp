{
  "targets": [
    {
      "target_name": "sanpath_rbd",
      "sources": [
        "src/addon.cc",
        "src/cluster.cc",
        "src/cluster_state.cc",
        "src/connect_worker.cc",
        "src/image_workers.cc",
        "src/op_error.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-Wall", "-Wextra"],
      "libraries": ["-lrbd", "-lrados"]
    },
    {
      "target_name": "sanpath_net",
      "sources": [
        "src/net_addon.cc",
        "src/net_arp.cc",
        "src/net_failure.cc",
        "src/net_namespace.cc",
        "src/net_netlink.cc",
        "src/net_operation.cc",
        "src/net_operations.cc",
        "src/net_rtnetlink.cc",
        "src/net_sock_diag.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-Wall", "-Wextra"],
      "ldflags": ["-pthread"]
    }
  ]
}
