"""The machine under the run: fingerprint, noise while it ran, peak memory, machine score."""

from loadgen.machine.fingerprint import collect_fingerprint, hardware_hash

__all__ = ["collect_fingerprint", "hardware_hash"]
