"""The school roster: people, classes and eligibility, imported from the National Education Database."""
