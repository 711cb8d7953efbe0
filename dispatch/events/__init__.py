"""Events: the tables of the loop, intake, steps, the state machine, reading back."""
