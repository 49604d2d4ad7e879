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
      "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"],
      "defines": ["NAPI_VERSION=8"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra"],
      "libraries": ["-lrbd", "-lrados"]
    }
  ]
}
