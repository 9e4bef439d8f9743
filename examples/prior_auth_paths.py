"""Where the examples find the synthetic prior-authorization record."""

from pathlib import Path

RECORD = Path(__file__).resolve().parent / "prior_auth" / "record.txt"
