"""Live benchmark driver and reports."""
