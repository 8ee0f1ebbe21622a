"""The SGLang plugin: hooks at the scheduler patch points and the engine side of the policy interface.

This is the only subpackage that imports SGLang."""
