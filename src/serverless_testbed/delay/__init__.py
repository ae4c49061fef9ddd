"""`testbed delay`: delayed tasks on the delay state machine (a Wait state, then a Lambda)."""
