"""An MLproject entry point: its parameters arrive as argv (rendered from the template) and as config."""

import argparse

parser = argparse.ArgumentParser()
parser.add_argument("--alpha", type=float, required=True)
parser.add_argument("--epochs", type=int, required=True)
parser.add_argument("--label", required=True)
args = parser.parse_args()
print(f"training {args.label!r} with alpha={args.alpha} for {args.epochs} epochs")
for epoch in range(args.epochs):
    print(f"epoch {epoch + 1}: loss={1 / (epoch + 1 + args.alpha):.3f}")
