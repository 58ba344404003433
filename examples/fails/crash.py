"""A job that fails on purpose: some output, an error on stderr, exit code 3."""

import sys

print("loading data ...")
print("step 1/3")
print("error: the data set is empty (this job fails on purpose)", file=sys.stderr)
sys.exit(3)
