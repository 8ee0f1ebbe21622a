"""Engine-agnostic scheduling core: request views, gain and metrics, policies."""
