"""Workload definitions shared by the simulator and the live benchmark."""
