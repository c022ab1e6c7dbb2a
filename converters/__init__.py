"""Exporters and host runners, one module per output format (ExecuTorch, TFLite/LiteRT, ONNX).

Format-specific code lives here and nowhere else in the project.
"""
