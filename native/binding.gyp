{
  "targets": [
    {
      "target_name": "shoal_native",
      "sources": ["src/shoal_native.c", "src/errors.c", "src/datagram.c", "src/netlink-ack.c"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-Werror=implicit-function-declaration", "-O2"],
      "defines": ["NAPI_VERSION=8", "_GNU_SOURCE"]
    }
  ]
}
