"""Import-time shims for running SGLang on a machine without CUDA."""
