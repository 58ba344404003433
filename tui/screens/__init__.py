"""The app's screens: main (runs + logs), launch form, run details, help, and small dialogs."""
