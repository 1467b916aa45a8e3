// EdgeLM: the library product apps link. It re-exports the engine's public modules.
@_exported import GGUF
@_exported import Inference
@_exported import Kernels
@_exported import Tokenizers
@_exported import ModelLifecycle
@_exported import Tasks
@_exported import HTTPTransport
