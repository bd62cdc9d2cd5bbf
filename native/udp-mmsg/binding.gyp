{
  "targets": [
    {
      "target_name": "udp_mmsg",
      "sources": ["udp_mmsg.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "conditions": [["OS!='linux'", {"type": "none", "sources": []}]]
    }
  ]
}
