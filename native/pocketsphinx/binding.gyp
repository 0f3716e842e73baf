{
  "targets": [
    {
      "target_name": "pocketsphinx_binding",
      "sources": ["src/binding.c"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter", "-O2"],
      "include_dirs": ["<!@(pkg-config --cflags-only-I pocketsphinx sphinxbase | sed s/-I//g)"],
      "libraries": ["<!@(pkg-config --libs pocketsphinx sphinxbase)"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
