"""Ready-made systems under test: null and fixed-time SUTs to measure the harness, and the
DigitMLP default model with numpy reference models and TinyDigits data."""
