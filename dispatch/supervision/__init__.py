"""Supervision (督办) of live work: deadline warnings now, notices later."""
