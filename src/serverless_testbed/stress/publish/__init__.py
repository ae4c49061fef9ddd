"""The publisher: the slot schedule, the plan, the open-loop publishing run and its report."""
