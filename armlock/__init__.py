"""armlock's office side: the authority, the registry, the command line, the tour."""
