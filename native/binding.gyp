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
    }
  ]
}
