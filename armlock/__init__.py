"""The office and the roof: the `armlock` command (cli), the permit authority and the tour."""
