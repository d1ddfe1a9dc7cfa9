{
  "targets": [
    {
      "target_name": "tsfuse_sys",
      "sources": ["native/sys.c", "native/util.c", "native/lock_wait.c", "native/commfd.c", "native/uring.c"],
      "defines": ["NAPI_VERSION=8", "_GNU_SOURCE"],
      "cflags_c": ["-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "libraries": ["-lpthread"]
    }
  ]
}
