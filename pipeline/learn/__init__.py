"""The model and its training: the exported snapshot, tensors, the multi-task model, the loop."""
