"""Jobs: named, versioned descriptions of what to run (a code snapshot, a git repository, an image)."""
