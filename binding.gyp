{
  "targets": [
    {
      "target_name": "umdev_native",
      "sources": [
        "native/addon.cc",
        "native/common.cc",
        "native/confine.cc",
        "native/fork.cc",
        "native/io.cc",
        "native/mem.cc",
        "native/sock.cc",
        "native/watch.cc"
      ],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers"],
      "defines": ["_GNU_SOURCE"]
    }
  ]
}
