"""The monthly reports to the education authority and the school (§33-1.9, §33-1.12)."""
