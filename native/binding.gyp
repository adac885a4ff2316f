{
  "targets": [
    {
      "target_name": "gemma_lab_native",
      "sources": ["src/addon.cc", "src/sgemm.cc", "src/bgemm.cc", "src/elementwise.cc", "src/transpose.cc", "src/attention.cc", "src/fused.cc"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17", "-std=gnu++20"],
      "cflags_cc": ["-O3", "-march=native", "-fopenmp", "-std=gnu++17", "-ffp-contract=fast", "-Wno-psabi"],
      "ldflags": ["-fopenmp"],
      "libraries": ["-lmvec", "-lm"]
    }
  ]
}
