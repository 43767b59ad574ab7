"""Engine releases on a Python package index: which exist, and the model maps inside them."""
