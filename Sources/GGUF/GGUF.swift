// GGUF module: placeholder until the reader lands.
