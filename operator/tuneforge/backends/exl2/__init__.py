"""EXL2 (exllamav2) and EXL3 (exllamav3): CUDA-only converters, planned on CPU, run in the exl2 image."""
