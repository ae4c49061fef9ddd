"""Lambda experiments on any target: `testbed invoke` (result + START/END/REPORT lines) and
`testbed coldstart` (which container served each call, cold starts, Init Duration)."""
